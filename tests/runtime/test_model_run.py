"""`Model.run`: one engine call on tensors exactly as the model declares them, for a model whose inputs have
no batch axis and differ in their leading size; equal to the engine called directly."""

from __future__ import annotations

import numpy as np
import pytest

from edgeport import runtime
from edgeport.runtime.errors import ShapeError, UsageError
from tests.runtime.conftest import expected
from tests.runtime.direct_engines import onnx_run, tflite_dequantized, tflite_run
from tests.runtime.make_thirdparty import AUDIO_LENGTH, IMAGE_SIZE


def _audio_feeds(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(AUDIO_LENGTH, 1)).astype(np.float32), np.array([8000.0 * (1 + seed)], np.float32)


@pytest.mark.parametrize("fmt", ["tflite", "onnx"])
def test_run_equals_the_engine_called_directly(thirdparty, fmt):
    path = thirdparty / f"two_inputs.{fmt}"
    model = runtime.load(path)
    audio_spec, rate_spec = model.input_specs
    assert (audio_spec.shape, rate_spec.shape) == ([AUDIO_LENGTH, 1], [1])  # no batch axis, leading sizes differ
    for seed in range(3):
        audio, rate = _audio_feeds(seed)
        direct = tflite_run(path, [audio, rate]) if fmt == "tflite" else onnx_run(path, {"audio": audio, "rate": rate})
        by_name = model.run({audio_spec.name: audio, rate_spec.name: rate})
        in_order = model.run([audio, rate])
        (name,) = by_name
        assert by_name[name].dtype == np.float32 and by_name[name].shape == (1, 3)
        np.testing.assert_array_equal(by_name[name], direct[0])
        np.testing.assert_array_equal(in_order[name], direct[0])
    assert not np.array_equal(model.run([*_audio_feeds(0)])[name], model.run([*_audio_feeds(1)])[name])


@pytest.mark.parametrize("fmt", ["tflite", "onnx"])
def test_predict_tensor_refuses_inputs_of_other_leading_sizes_and_names_run(thirdparty, fmt):
    model = runtime.load(thirdparty / f"two_inputs.{fmt}")
    with pytest.raises(ShapeError, match=r"Model\.run"):
        model.predict_tensor(list(_audio_feeds(0)))


def test_run_takes_tensors_exactly_as_declared(thirdparty):
    model = runtime.load(thirdparty / "two_inputs.tflite")
    audio, rate = _audio_feeds(0)
    names = [s.name for s in model.input_specs]
    with pytest.raises(ShapeError, match=r"declared with shape \(160, 1\).*got shape \(1, 160, 1\)"):
        model.run([audio[None], rate])  # no batch axis is added, and none may be given
    with pytest.raises(ShapeError, match=r"declared with shape \(1\)"):
        model.run([audio, rate[0]])
    with pytest.raises(UsageError, match="missing inputs"):
        model.run({names[0]: audio})
    with pytest.raises(UsageError, match="unknown inputs.*'sample_rate'"):
        model.run({names[0]: audio, names[1]: rate, "sample_rate": rate})
    with pytest.raises(UsageError, match="2 inputs"):
        model.run([audio])


def test_run_quantises_nothing_given_in_the_input_dtype_and_dequantises_outputs(thirdparty):
    path = thirdparty / "image_uint8_int8.tflite"
    model = runtime.load(path)
    assert model.input_specs[0].dtype == "uint8" and model.input_specs[0].quantized
    pixels = np.random.default_rng(3).integers(0, 256, (1, IMAGE_SIZE, IMAGE_SIZE, 3)).astype(np.uint8)
    (out,) = model.run([pixels]).values()
    np.testing.assert_array_equal(out, tflite_dequantized(path, tflite_run(path, [pixels])[0]))


def test_run_on_a_batched_bundle_equals_predict_tensor(text_binary):
    model = runtime.load(text_binary, variant="tflite-fp32")
    x, _ = expected(text_binary)
    (out,) = model.run({model.input_specs[0].name: x[:3]}).values()
    np.testing.assert_array_equal(out, model.predict_tensor(x[:3]))
