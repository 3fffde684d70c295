"""TensorFlow's C++ start-up lines are filtered by severity; every other line on file descriptor 2 is kept."""

from __future__ import annotations

import subprocess
import sys

from edgeport.runtime.native_stderr import kept_lines

NOTICE = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
ONEDNN = ("I0000 00:00:1796314363.345334   25385 port.cc:153] oneDNN custom operations are on. You may see slightly "
          "different numerical results due to floating-point round-off errors from different computation orders.\n")
CPU_GUARD = "I0000 00:00:1796314763.645249    6048 cpu_feature_guard.cc:227] This TensorFlow binary is optimized\n"
CPU_GUARD_MORE = "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild TensorFlow.\n"
WARNING = "W1203 16:20:01.123456    6048 loader.cc:12] a warning\n"
ERROR = "E0000 00:00:1796314333.553650   24878 node_def_util.cc:682] NodeDef mentions attribute use_unbounded_threadpool\n"
PYTHON = "UserWarning: something a user should read\n"


def test_the_start_up_lines_go_at_level_2_and_errors_and_python_lines_stay():
    lines = [NOTICE, ONEDNN, CPU_GUARD, CPU_GUARD_MORE, WARNING, PYTHON, NOTICE, ONEDNN, ERROR]
    assert kept_lines(lines, 2) == [PYTHON, ERROR]


def test_a_line_after_the_notice_is_not_taken_for_a_continuation():
    assert kept_lines([ONEDNN, NOTICE, PYTHON], 2) == [PYTHON]


def test_level_1_keeps_warnings_and_level_0_keeps_everything():
    lines = [NOTICE, ONEDNN, CPU_GUARD_MORE, WARNING, ERROR]
    assert kept_lines(lines, 1) == [WARNING, ERROR]
    assert kept_lines(lines, 0) == lines


def test_the_filter_works_on_the_file_descriptor_and_writes_back_the_rest():
    program = (
        "import os, sys\n"
        "from edgeport.runtime.native_stderr import filtered_native_stderr\n"
        "with filtered_native_stderr(2):\n"
        f"    os.write(2, {NOTICE!r}.encode()); os.write(2, {ONEDNN!r}.encode())\n"
        "    print('from python', file=sys.stderr)\n"
        f"    os.write(2, {ERROR!r}.encode())\n"
        "print('after', file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == "from python\n" + ERROR + "after\n"
