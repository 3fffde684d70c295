"""The emulated-device scripts: they parse, and they skip with one clear line where emulation is
unavailable (here forced with EDGEPORT_NO_EMULATION; on CI machines without binfmt_misc or chroot the
same path is taken), never failing the build."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.runtime.conftest import REPO

SCRIPTS = sorted((REPO / "tools" / "device").glob("*.sh"))


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_parses(script: Path):
    done = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("command", [["tools/device/test-device.sh", "arm64"], ["tools/device/test-device.sh", "armv7"],
                                     ["tools/device/ci-smoke.sh"]], ids=" ".join)
def test_unavailable_emulation_skips_with_one_line(command: list[str]):
    env = {**os.environ, "EDGEPORT_NO_EMULATION": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1 and "skipped" in lines[0] and "EDGEPORT_NO_EMULATION" in lines[0], done.stdout
    assert done.stderr == ""
