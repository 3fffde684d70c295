"""The .tflite files LiteRT.js takes: batch 1 declared (shape_signature fixed), int8 edges behind uint8 ones;
the same graph and weights, the same integers out."""

from __future__ import annotations

import numpy as np
import pytest

from edgeport.runtime.errors import ModelFileError
from edgeport.runtime.web.tflite_batch1 import fixed_batch
from edgeport.runtime.tflite_edges import uint8_edges


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


def test_uint8_edges_give_the_same_integers_shifted_by_128(image_int8io):
    original = (image_int8io / "model.int8.tflite").read_bytes()  # the converter's file: int8 edges
    shifted, changed = uint8_edges(original)
    assert changed == 2
    before, after = _interpreter(original), _interpreter(shifted)
    (i8,), (u8,) = before.get_input_details(), after.get_input_details()
    assert (i8["dtype"], u8["dtype"]) == (np.int8, np.uint8)
    assert u8["quantization"] == (i8["quantization"][0], i8["quantization"][1] + 128)
    assert after.get_signature_list() == before.get_signature_list()
    x = np.random.default_rng(1).integers(-128, 128, size=i8["shape"]).astype(np.int8)
    before.set_tensor(i8["index"], x)
    after.set_tensor(u8["index"], (x.astype(np.int16) + 128).astype(np.uint8))
    before.invoke()
    after.invoke()
    y8 = before.get_tensor(before.get_output_details()[0]["index"])
    yu = after.get_tensor(after.get_output_details()[0]["index"])
    assert yu.dtype == np.uint8 and np.array_equal(yu.astype(np.int16) - 128, y8)
    assert uint8_edges(shifted) == (shifted, 0)
