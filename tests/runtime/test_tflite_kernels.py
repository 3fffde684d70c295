"""The kernels a TFLite engine runs a model on: reference ones where tflite-runtime's Arm build crashes."""

from __future__ import annotations

import numpy as np
import pytest

from edgeport import runtime
from edgeport.runtime.backends import litert
from edgeport.runtime.backends.tflite_kernels import optimized_kernels_crash
from tests.runtime.conftest import HAS_TFLITE_RUNTIME, TFLITE_ENGINE
from tests.runtime.direct_engines import CRASH_ON_ARM, tflite_dequantized
from tests.runtime.make_thirdparty import IMAGE_SIZE


def _dense(depth: int, units: int, activations: type = np.int8, weights: type = np.int8, bias: bool = False):
    """A FULLY_CONNECTED's operator and tensors as an interpreter lists them; no bias: input -1, as the
    converter writes a Dense layer whose bias is all zeros."""
    ops = [{"op_name": "FULLY_CONNECTED", "inputs": np.array([0, 1, 2 if bias else -1]), "outputs": np.array([3])}]
    tensors = [{"index": 0, "dtype": activations, "shape": np.array([1, depth])},
               {"index": 1, "dtype": weights, "shape": np.array([units, depth])},
               {"index": 2, "dtype": np.int32, "shape": np.array([units])},
               {"index": 3, "dtype": activations, "shape": np.array([1, units])}]
    return ops, tensors


@pytest.mark.parametrize("arch", ["arm64", "arm32"])
def test_a_short_int8_fully_connected_crashes_tflite_runtime_on_arm_only(arch):
    assert optimized_kernels_crash("tflite-runtime", arch, *_dense(6, 4))
    assert optimized_kernels_crash("tflite-runtime", arch, *_dense(1, 2))
    assert optimized_kernels_crash("tflite-runtime", arch, *_dense(7, 256))
    assert not optimized_kernels_crash("tflite-runtime", arch, *_dense(8, 4))  # 8 inputs or more run
    assert not optimized_kernels_crash("tflite-runtime", arch, *_dense(6, 1))  # so does one output
    assert not optimized_kernels_crash("tflite-runtime", arch, *_dense(6, 4, bias=True))  # and a bias
    assert not optimized_kernels_crash("tflite-runtime", arch, *_dense(6, 4, np.float32))  # dynamic-range
    assert not optimized_kernels_crash("tflite-runtime", arch, *_dense(6, 4, np.float32, np.float32))
    assert not optimized_kernels_crash("litert", arch, *_dense(6, 4))
    assert not optimized_kernels_crash("tflite-runtime", "x86", *_dense(6, 4))


def test_of_the_test_models_it_finds_the_one_that_crashes_there(thirdparty, models_dir):
    interpreter_class, _ = litert.import_interpreter(TFLITE_ENGINE)
    found = set()
    for path in sorted(thirdparty.glob("*.tflite")) + sorted(models_dir.glob("*/model.*.tflite")):
        try:
            interpreter = interpreter_class(model_path=str(path))
        except ValueError:  # tflite-runtime 2.14 opens no dynamic-range int8 file: none to run there
            continue
        if optimized_kernels_crash("tflite-runtime", "arm64", interpreter._get_ops_details(),
                                   interpreter.get_tensor_details()):
            found.add(path.name)
    assert found == CRASH_ON_ARM  # measured on emulated arm64 and armv7 (docs/devices.md); the image
    # bundles' trained Dense(3) on 4 channels has a bias, and runs there


@pytest.mark.skipif(not HAS_TFLITE_RUNTIME, reason="needs tflite-runtime (make test-device)")
def test_tflite_runtime_on_arm_runs_such_a_model_on_its_reference_kernels(thirdparty, monkeypatch):
    """Forced here on any machine: the Arm build is taken to be installed."""
    path = thirdparty / "image_uint8_int8.tflite"
    monkeypatch.setattr(litert, "tflite_runtime_arch", lambda *_: "arm64")
    with pytest.warns(RuntimeWarning, match=r"crashes on this model's bias-free int8 FULLY_CONNECTED.*reference kernels"):
        model = runtime.load(path, backend="tflite-runtime")
    assert model.info()["kernels"] == "reference" and model.info()["quantize_rounding"] == "reference"
    pixels = np.random.default_rng(5).integers(0, 256, (1, IMAGE_SIZE, IMAGE_SIZE, 3)).astype(np.uint8)
    (out,) = model.run([pixels]).values()
    from tflite_runtime.interpreter import Interpreter, OpResolverType

    reference = Interpreter(model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    reference.allocate_tensors()
    reference.set_tensor(reference.get_input_details()[0]["index"], pixels)
    reference.invoke()
    raw = reference.get_tensor(reference.get_output_details()[0]["index"])
    np.testing.assert_array_equal(out, tflite_dequantized(path, raw))

    monkeypatch.setattr(litert, "tflite_runtime_arch", lambda *_: "x86")
    assert runtime.load(path, backend="tflite-runtime").info()["kernels"] == "optimized"
    assert runtime.load(thirdparty / "image_uint8.tflite").info()["kernels"] == "optimized"
