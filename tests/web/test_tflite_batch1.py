"""The batch-1 .tflite LiteRT.js needs: the same graph and weights, shape_signature fixed."""

from __future__ import annotations

import numpy as np
import pytest

from edgeport.runtime.errors import ModelFileError
from edgeport.runtime.web.tflite_batch1 import fixed_batch


def _interpreter(data: bytes):
    interpreter = pytest.importorskip("ai_edge_litert.interpreter").Interpreter(model_content=data)
    interpreter.allocate_tensors()
    return interpreter


def test_fixed_file_declares_batch_1_and_computes_the_same(text_topics):
    original = (text_topics / "model.fp32.tflite").read_bytes()
    fixed, changed = fixed_batch(original)
    assert changed > 0 and len(fixed) == len(original)
    before, after = _interpreter(original), _interpreter(fixed)
    assert before.get_input_details()[0]["shape_signature"][0] == -1
    assert after.get_input_details()[0]["shape_signature"].tolist() == after.get_input_details()[0]["shape"].tolist()
    assert all(-1 not in d["shape_signature"] for d in after.get_tensor_details() if len(d["shape_signature"]))
    x = np.random.default_rng(0).integers(0, 50, size=after.get_input_details()[0]["shape"]).astype(np.int32)
    outputs = []
    for interpreter in (before, after):
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]))
    assert np.array_equal(outputs[0], outputs[1])
    assert fixed_batch(fixed) == (fixed, 0)


def test_not_a_tflite_file_is_refused():
    with pytest.raises(ModelFileError, match="not a .tflite file"):
        fixed_batch(b"\x00" * 64)
    with pytest.raises(ModelFileError, match="damaged"):
        fixed_batch(b"\xff\xff\xff\x7fTFL3" + b"\x00" * 8)
