"""Quantised inputs and outputs: the runtime's arithmetic against the engine's own."""

from __future__ import annotations

import numpy as np
import pytest

from edgeport import runtime
from edgeport.runtime.backends.litert import import_interpreter
from edgeport.runtime.errors import DtypeError, ValueRangeError
from edgeport.runtime.manifest import TensorSpec
from edgeport.runtime.quant import dequantize, from_engine, is_quantized, quantize, to_engine
from tests.runtime.conftest import TFLITE_ENGINE, expected


def test_quantize_rounding_modes_and_saturation():
    ties = [0.5, 1.5, 2.5, -0.5, -1.5, 0.49]
    np.testing.assert_array_equal(quantize(ties, 1.0, 0, "int8", "reference"), [1, 2, 3, -1, -2, 0])
    np.testing.assert_array_equal(quantize(ties, 1.0, 0, "int8", "xnnpack"), [0, 2, 2, 0, -2, 0])
    np.testing.assert_array_equal(quantize(ties, 1.0, 0, "int8", "onnx"), [0, 2, 2, 0, -2, 0])
    for rounding in ("reference", "xnnpack", "onnx"):
        np.testing.assert_array_equal(quantize([1000.0, -1000.0], 0.5, 3, "int8", rounding), [127, -128])
        np.testing.assert_array_equal(quantize([0.0, 1.0, -1.0], 1 / 128, 128, "uint8", rounding), [128, 255, 0])
    assert quantize([0.1], 0.1, -1, np.int8).dtype == np.int8
    with pytest.raises(DtypeError):
        quantize([1.0], 0.0, 0, "int8")
    with pytest.raises(DtypeError):
        quantize([1.0], 0.1, 0, "float32")


def test_saturation_at_the_edges_and_non_finite_values():
    """The clip happens exactly when a value rounds outside the type; NaN and inf are refused, while a
    finite value whose quotient overflows float32 saturates."""
    for rounding in ("reference", "multiply-away", "xnnpack", "onnx"):
        np.testing.assert_array_equal(quantize([127.4, 0.0], 1.0, 0, "int8", rounding), [127, 0])
        np.testing.assert_array_equal(quantize([127.6, -128.4], 1.0, 0, "int8", rounding), [127, -128])
        np.testing.assert_array_equal(quantize([-128.6, 255.4], 1.0, 0, "uint8", rounding), [0, 255])
        np.testing.assert_array_equal(quantize([1.01, -1.0], 1 / 127.5, -1, "int8", rounding), [127, -128])
        np.testing.assert_array_equal(quantize([3e38, -3e38], 1e-3, 0, "int8", rounding), [127, -128])
        for bad in (np.nan, np.inf, -np.inf):
            with pytest.raises(ValueRangeError, match="NaN or inf"):
                quantize([0.5, bad], 0.1, 0, "int8", rounding)


def test_dequantize_and_spec_helpers():
    q = np.array([-128, -1, 0, 127], np.int8)
    out = dequantize(q, 1 / 256, -128)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [0.0, 127 / 256, 0.5, 255 / 256])
    spec = TensorSpec("y", [None, 4], "int8", 1 / 256, -128)
    assert is_quantized(spec) and not is_quantized(TensorSpec("x", [None], "int8"))
    np.testing.assert_array_equal(from_engine(q, spec), out)
    assert to_engine(q, spec) is q  # already quantised: passed through
    np.testing.assert_array_equal(to_engine(out, spec), q)  # round trip


def _hard_inputs(image_bundle, scale: float) -> np.ndarray:
    """Real inputs, every pixel value x/127.5 - 1, values that saturate, and exact float32 ties."""
    x, _ = expected(image_bundle)
    pixels = np.resize(np.arange(256, dtype=np.float32) / np.float32(127.5) - np.float32(1), x[0].shape)
    halves = np.arange(-140, 140, dtype=np.float32) + np.float32(0.5)
    ties = np.resize(halves * np.float32(scale), x[0].shape)
    return np.concatenate([x, 3.0 * x[:2], pixels[None], ties[None]]).astype(np.float32)


@pytest.mark.filterwarnings("ignore:.*preserve_all_tensors")
def test_quantised_input_equals_the_engines_own_quantize_op(models_dir, image_int8io):
    """The float-I/O twin's QUANTIZE op, read from inside the engine in use, against runtime.quant."""
    image_bundle = image_int8io
    model = runtime.load(image_bundle, variant="tflite-int8")
    spec = model.info()["inputs"][0]
    assert spec["dtype"] == "int8" and spec["scale"] > 0
    x = _hard_inputs(image_bundle, spec["scale"])
    interpreter_class, _ = import_interpreter(TFLITE_ENGINE)
    engine = interpreter_class(model_path=str(models_dir / "bare" / "image_int8_floatio.tflite"),
                               experimental_preserve_all_tensors=True)
    detail = engine.get_input_details()[0]
    engine.resize_tensor_input(detail["index"], list(x.shape))
    engine.allocate_tensors()
    engine.set_tensor(detail["index"], x)
    engine.invoke()
    quantize_op = next(op for op in engine._get_ops_details() if op["op_name"] == "QUANTIZE")
    engine_q = engine.get_tensor(quantize_op["outputs"][0])
    q_detail = next(t for t in engine.get_tensor_details() if t["index"] == quantize_op["outputs"][0])
    assert q_detail["quantization"] == pytest.approx((spec["scale"], spec["zero_point"]))
    rounding = model.info()["quantize_rounding"]
    np.testing.assert_array_equal(quantize(x, spec["scale"], spec["zero_point"], np.int8, rounding), engine_q)
    other = "reference" if rounding == "xnnpack" else "xnnpack"
    assert (quantize(x, spec["scale"], spec["zero_point"], np.int8, other) != engine_q).any()  # ties matter


def test_int8_io_model_equals_the_engine_quantising_itself(models_dir, image_int8io):
    """Same int8 graph twice: int8 I/O quantised by the runtime, float I/O quantised by the engine."""
    image_bundle = image_int8io
    ours = runtime.load(image_bundle, variant="tflite-int8")
    engine_side = runtime.load(models_dir / "bare" / "image_int8_floatio.tflite")
    assert engine_side.info()["inputs"][0]["dtype"] == "float32"
    x = _hard_inputs(image_bundle, ours.info()["inputs"][0]["scale"])
    np.testing.assert_array_equal(ours.predict_tensor(x), engine_side.predict_tensor(x))


def test_int8_outputs_are_dequantised_on_the_output_grid(text_binary):
    model = runtime.load(text_binary, variant="tflite-int8")
    out_spec = model.info()["outputs"][0]
    # export's full-integer file: the converter's int8 output shifted to uint8 (phones take no int8 edge)
    assert (out_spec["dtype"], out_spec["scale"], out_spec["zero_point"]) == ("uint8", 1 / 256, 0)
    assert model.info()["inputs"][0]["dtype"] == "int32"  # token ids stay integers
    x, y = expected(text_binary)
    out = model.predict_tensor(x)
    steps = out * 256  # q / 256 exactly
    np.testing.assert_array_equal(steps, np.round(steps))
    assert np.abs(out - y).max() <= 0.08


def test_tflite_runtime_rounding_follows_the_wheel_not_the_kernel():
    from edgeport.runtime.backends.litert import tflite_runtime_rounding

    arm64_wheel, armv7_wheel, x86_wheel = ["manylinux_2_17_aarch64"], ["linux_armv7l"], ["manylinux2014_x86_64"]
    assert tflite_runtime_rounding(64, arm64_wheel, "aarch64") == "xnnpack"
    # 32-bit Raspberry Pi OS on a 64-bit kernel: platform.machine() says aarch64, the armv7l wheel runs
    assert tflite_runtime_rounding(32, armv7_wheel, "aarch64") == "multiply-away"
    assert tflite_runtime_rounding(32, [], "aarch64") == "multiply-away"  # no wheel tag: the pointer size decides
    assert tflite_runtime_rounding(64, [], "aarch64") == "xnnpack"
    assert tflite_runtime_rounding(32, [], "armv7l") == "multiply-away"
    assert tflite_runtime_rounding(64, x86_wheel, "x86_64") == "reference"
    assert tflite_runtime_rounding(64, [], "x86_64") == "reference"


def test_tflite_runtime_rounding_reads_the_installed_wheel_and_pointer_size(monkeypatch):
    import importlib.metadata
    import platform
    import struct

    from edgeport.runtime.backends import litert

    class Wheel:
        def __init__(self, tag: str):
            self.text = f"Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: cp311-cp311-{tag}\n"

        def read_text(self, name: str) -> str | None:
            return self.text if name == "WHEEL" else None

    installed = {}

    def distribution(name: str):
        if name not in installed:
            raise importlib.metadata.PackageNotFoundError(name)
        return installed[name]

    monkeypatch.setattr(importlib.metadata, "distribution", distribution)
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")  # a 64-bit kernel in every case below
    pointer = {"P": 8}
    monkeypatch.setattr(struct, "calcsize", lambda fmt: pointer[fmt])
    installed["tflite-runtime"] = Wheel("manylinux_2_17_aarch64")
    assert litert.wheel_platforms() == ["manylinux_2_17_aarch64"]
    assert litert.tflite_runtime_rounding() == "xnnpack"
    installed["tflite-runtime"], pointer["P"] = Wheel("linux_armv7l"), 4
    assert litert.wheel_platforms() == ["linux_armv7l"]
    assert litert.tflite_runtime_rounding() == "multiply-away"
    del installed["tflite-runtime"]  # built from source, no wheel tag: the 32-bit interpreter decides
    assert litert.wheel_platforms() == []
    assert litert.tflite_runtime_rounding() == "multiply-away"
    pointer["P"] = 8
    assert litert.tflite_runtime_rounding() == "xnnpack"
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    assert litert.tflite_runtime_rounding() == "reference"


def test_multiply_away_rounds_ties_away_from_zero_after_a_float32_reciprocal():
    from edgeport.runtime.quant import quantize

    q = quantize(np.array([0.5, -0.5, 1.5, 2.5, 0.26], dtype=np.float32), 1.0, 0, "int8", rounding="multiply-away")
    assert q.tolist() == [1, -1, 2, 3, 0]
    even = quantize(np.array([0.5, 2.5], dtype=np.float32), 1.0, 0, "int8", rounding="xnnpack")
    assert even.tolist() == [0, 2]
