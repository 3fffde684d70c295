"""Fuzzing the decoders, each property in a child process (a crash in C code must not take the test run
with it): image bytes of every format and mode, damaged, 1×1 and declaring huge sizes; damaged .tflite
and .onnx model files. Every failure is a `runtime.errors` exception; peak memory stays bounded."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.runtime.conftest import run_python

pytest.importorskip("hypothesis")
pytest.importorskip("PIL")

PEAK_MB = 1200  # the child: interpreter, engines, and the largest image the pixel limit lets through

IMAGES = r"""
import json

def peak_mb():  # this process's own high-water mark (ru_maxrss would include the parent's, across exec)
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
import numpy as np
from hypothesis import given
from tests.runtime.fuzzing import image_bytes, EXAMPLES
from edgeport.runtime.errors import EdgeportError
from edgeport.runtime.preprocess import ImagePreprocessor

pre = ImagePreprocessor({"size": [32, 32], "interpolation": "bilinear", "normalization": "mobilenet"})
counts = {"decoded": 0, "refused": 0}

@given(image_bytes())
def prop(data):
    try:
        x = pre([data])
    except EdgeportError as exc:
        assert str(exc).strip()
        counts["refused"] += 1
        return
    assert x.shape == (1, 32, 32, 3) and x.dtype == np.float32 and np.all(np.isfinite(x))
    assert x.min() >= -1.0 and x.max() <= 1.0
    counts["decoded"] += 1

prop()
print(json.dumps({**counts, "examples": EXAMPLES, "peak_mb": peak_mb()}))
"""

MODELS = r"""
import json, os, sys, tempfile

def peak_mb():  # this process's own high-water mark (ru_maxrss would include the parent's, across exec)
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
import numpy as np
from hypothesis import given, strategies as st
from tests.runtime.fuzzing import damaged_model, EXAMPLES
from edgeport import runtime
from edgeport.runtime.errors import EdgeportError

sources = [open(p, "rb").read() for p in sys.argv[1:]]
counts = {"loaded": 0, "refused": 0}
work = tempfile.mkdtemp()

@given(st.integers(0, len(sources) - 1), st.data())
def prop(which, data):
    suffix = ".onnx" if sys.argv[1 + which].endswith(".onnx") else ".tflite"
    path = os.path.join(work, "m" + suffix)
    with open(path, "wb") as handle:
        handle.write(data.draw(damaged_model([sources[which]])))
    try:
        model = runtime.load(path)
        spec = model.info()["inputs"][0]
        model.predict_tensor(np.zeros([1 if d is None else d for d in spec["shape"]], spec["dtype"]))
        counts["loaded"] += 1
    except EdgeportError as exc:
        assert str(exc).strip()
        counts["refused"] += 1

prop()
print(json.dumps({**counts, "examples": EXAMPLES, "peak_mb": peak_mb()}))
"""


def run_child(code: str, *args: str) -> dict:
    done = run_python(code, *args, timeout=7200)
    assert done.returncode == 0, f"exit {done.returncode} (negative: killed by a signal)\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["peak_mb"] < PEAK_MB, result
    return result


def test_image_bytes_of_any_format_mode_and_damage():
    result = run_child(IMAGES)
    assert result["decoded"] > 0 and result["refused"] > 0, result


@pytest.mark.parametrize("name", ["text_binary", "image"])
def test_damaged_model_files_tflite_and_onnx(name, models_dir):
    bundle = models_dir / name
    files = sorted(str(p) for p in bundle.glob("model.*") if p.suffix in (".tflite", ".onnx"))
    assert any(f.endswith(".onnx") for f in files) and any(f.endswith(".tflite") for f in files)
    result = run_child(MODELS, *files)
    assert result["refused"] > 0, result


def test_an_onnx_file_whose_tensor_names_are_not_utf8_is_refused(models_dir, tmp_path):
    """Found by `make fuzz`: onnxruntime loads such a file, then raises UnicodeDecodeError on the name."""
    from edgeport import runtime
    from edgeport.runtime.errors import ModelFileError

    data = (models_dir / "image" / "model.fp32.onnx").read_bytes()
    assert data.count(b"probabilities") >= 2  # the graph's output and the node that writes it
    damaged = tmp_path / "names.onnx"
    damaged.write_bytes(data.replace(b"probabilities", b"\x80robabilities"))  # same length: the protobuf stays whole
    with pytest.raises(ModelFileError, match="not valid UTF-8"):
        runtime.load(damaged)


def test_an_onnx_file_without_inputs_is_refused(models_dir, tmp_path):
    """Found by `make fuzz`: a damaged graph can lose every input and still load in onnxruntime."""
    onnx = pytest.importorskip("onnx")
    from edgeport import runtime
    from edgeport.runtime.errors import ModelFileError

    model = onnx.load_from_string((models_dir / "image" / "model.fp32.onnx").read_bytes())
    graph_input = model.graph.input[0]
    model.graph.initializer.append(onnx.numpy_helper.from_array(  # the input becomes a constant
        np.zeros([d.dim_value or 1 for d in graph_input.type.tensor_type.shape.dim], np.float32), graph_input.name))
    del model.graph.input[:]
    damaged = tmp_path / "no_inputs.onnx"
    damaged.write_bytes(model.SerializeToString())
    with pytest.raises(ModelFileError, match="has no inputs"):
        runtime.load(damaged)
