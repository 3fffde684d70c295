"""TensorFlow's C++ start-up lines, kept off stderr on every CPU class.

`TF_CPP_MIN_LOG_LEVEL` silences TensorFlow's own logging, but not the lines its libraries write through
Abseil before Abseil's logging is set up: on CPUs where oneDNN's kernels are on by default (AVX-512),
`import tensorflow` prints `WARNING: All log messages before absl::InitializeLog() ...` and
`I0000 ... port.cc:153] oneDNN custom operations are on ...`, twice. No variable turns those off, so the
first import of TensorFlow runs with file descriptor 2 captured, and the captured lines are written back
without those below the level `TF_CPP_MIN_LOG_LEVEL` asks for (2 unless the user set it: errors stay).

    install_quiet_tensorflow_import()   # cheap: TensorFlow is imported later, when something needs it
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import re
import sys
import tempfile
from types import ModuleType
from typing import Iterator, Sequence

LOG_LEVEL_VARIABLE = "TF_CPP_MIN_LOG_LEVEL"
DEFAULT_LOG_LEVEL = "2"

ABSL_NOT_INITIALISED = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
# Abseil's and TensorFlow's C++ line head: severity letter, MMDD, time (before Abseil is set up: 00:00:<epoch>),
# thread id, file:line].
LOG_HEAD = re.compile(r"^([IWEF])\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [^ \]]+:\d+\] ")
SEVERITY_LEVEL = {"I": 0, "W": 1, "E": 2, "F": 3}
CONTINUATIONS = ("To enable the following instructions",)


def minimum_level() -> int:
    """The level below which C++ log lines are dropped, from `TF_CPP_MIN_LOG_LEVEL` (0 keeps everything)."""
    try:
        return int(os.environ.get(LOG_LEVEL_VARIABLE, DEFAULT_LOG_LEVEL))
    except ValueError:
        return 0


def kept_lines(lines: Sequence[str], level: int) -> list[str]:
    """The lines to write back: C++ messages below `level` (with the one known second line, cpu_feature_guard's
    'To enable ...'), and Abseil's 'not initialised' notice unless `level` is 0. Everything else stays, in order."""
    kept, dropped_head = [], False
    for line in lines:
        head = LOG_HEAD.match(line)
        if head:
            dropped_head = SEVERITY_LEVEL[head.group(1)] < level
            drop = dropped_head
        else:
            notice = line.rstrip("\r\n") == ABSL_NOT_INITIALISED
            drop = (notice and level > 0) or (dropped_head and line.startswith(CONTINUATIONS))
            dropped_head = False
        if not drop:
            kept.append(line)
    return kept


@contextlib.contextmanager
def filtered_native_stderr(level: int | None = None) -> Iterator[None]:
    """Capture file descriptor 2 (C++ and Python alike) for the block, then write back the kept lines."""
    level = minimum_level() if level is None else level
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode("utf-8", errors="replace")
            kept = "".join(kept_lines(text.splitlines(keepends=True), level))
            if kept:
                os.write(2, kept.encode("utf-8"))


class _FilteredLoader(importlib.abc.Loader):
    """Runs another loader's module code inside `filtered_native_stderr`; everything else is the other loader's."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        with filtered_native_stderr():
            self._loader.exec_module(module)  # type: ignore[attr-defined]

    def __getattr__(self, name: str):  # get_resource_reader, is_package, get_code, ...
        return getattr(self._loader, name)


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` once, the normal way, and hands back its spec with the filtering loader."""

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None):
        if fullname != "tensorflow":
            return None
        uninstall()
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _FilteredLoader(spec.loader)
        return spec


def install_quiet_tensorflow_import() -> None:
    """Set `TF_CPP_MIN_LOG_LEVEL` to 2 unless the user set it, and filter TensorFlow's first import
    (direct, or through Keras). Does nothing once TensorFlow is imported; cheap to call again."""
    os.environ.setdefault(LOG_LEVEL_VARIABLE, DEFAULT_LOG_LEVEL)
    if "tensorflow" in sys.modules or any(isinstance(f, _QuietTensorFlowFinder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _QuietTensorFlowFinder())


def uninstall() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _QuietTensorFlowFinder)]
