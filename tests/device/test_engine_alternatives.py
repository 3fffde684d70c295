"""A variant the installed engine cannot run gives a clear error that names the variants that do run.

tflite-runtime 2.14 (the last release, what a 32-bit Pi can install) has no kernel for the
FULLY_CONNECTED version 12 that current converters write for dynamic-range int8 layers. Run in a
fresh interpreter of an environment with tflite-runtime and without LiteRT (the device venv), and
checked for a clean exit: no signal, no traceback.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.runtime.conftest import HAS_LITERT, HAS_TFLITE_RUNTIME, REPO

DEVICE_PYTHON = REPO / ".venv-device" / "bin" / "python"


def device_python() -> str:
    if HAS_TFLITE_RUNTIME and not HAS_LITERT:
        return sys.executable
    if DEVICE_PYTHON.exists():
        return str(DEVICE_PYTHON)
    pytest.skip("needs an environment with tflite-runtime and without LiteRT (make setup-device)")


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([device_python(), *args], capture_output=True, text=True, timeout=300, cwd=REPO)


def assert_names_alternatives(message: str) -> None:
    assert "FULLY_CONNECTED version 12" in message and "tflite-runtime" in message
    assert "variants that run here: " in message
    alternatives = message.split("variants that run here: ", 1)[1]
    assert "tflite-fp32" in alternatives and "onnx-fp32 (onnxruntime)" in alternatives
    assert "tflite-dynamic-int8" not in alternatives  # not the one that just failed


def test_cli_names_the_variants_that_run(text_topics: Path):
    done = run("-m", "edgeport.runtime", "predict", str(text_topics), "--variant", "tflite-dynamic-int8", "oil barrels")
    assert done.returncode == 3, done.stderr  # a bad model for this engine: not a crash, not a signal
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert "edgeport-run: error: " in done.stderr  # (tflite-runtime itself prints an INFO line first)
    assert_names_alternatives(done.stderr)


def test_api_raises_engine_unsupported_with_alternatives(text_topics: Path):
    code = """
import json, sys, runtime
from edgeport.runtime import errors
try:
    runtime.load(sys.argv[1], variant="tflite-dynamic-int8", backend=sys.argv[2] or None)
except errors.EngineUnsupportedError as exc:
    print(json.dumps(str(exc)))
"""
    for backend in ("", "tflite-runtime"):
        done = run("-c", code, str(text_topics), backend)
        assert done.returncode == 0, done.stderr
        message = json.loads(done.stdout)
        assert_names_alternatives(message)
        assert "tflite-fp32 (tflite-runtime)" in message  # runs where the named engine is


def test_the_variants_named_really_run(text_topics: Path):
    code = """
import json, sys, runtime
from edgeport.runtime import compat
alternatives = compat.runnable_variants(sys.argv[1], exclude=["tflite-dynamic-int8"])
shapes = [runtime.load(sys.argv[1], variant=v, backend=e).predict(["oil barrels"]).shape for v, e in alternatives]
print(json.dumps({"alternatives": alternatives, "shapes": shapes}))
"""
    done = run("-c", code, str(text_topics))
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert [v for v, _ in doc["alternatives"]] == ["tflite-fp32", "onnx-fp32"]
    assert doc["shapes"] == [[1, 5], [1, 5]]
