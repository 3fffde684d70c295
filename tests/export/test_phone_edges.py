"""The full-integer image file takes camera pixels: for every pixel value in every channel, its uint8 input
gives the model the integers the runtime's table path gives the converter's int8 file (and the float path
the table stands for), with no float tensor; the output is uint8, the int8 one shifted by 128; MediaPipe's
ImageClassifier computes the runtime's very numbers from it."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from edgeport.export.calibrate import representative_batches
from edgeport.export.targets.phone_edges import phone_edges
from edgeport.export.tflite import export_tflite, float_ops
from edgeport.export.variants import variant
from edgeport.runtime import load
from edgeport.runtime.pixel_table import pixel_table
from edgeport.runtime.preprocess import ImagePreprocessor
from edgeport.runtime.tensors import to_engine_dtype

litert = pytest.importorskip("ai_edge_litert.interpreter")


def every_pixel_value(size: int) -> np.ndarray:
    """(3, size, size, 3) uint8: in each image each channel runs through 0..255, each channel in another order."""
    ramp = np.arange(size * size) % 256
    return np.stack([np.stack([np.roll(ramp, 85 * (c + k)).reshape(size, size) for c in range(3)], -1)
                     for k in range(3)]).astype(np.uint8)


@pytest.fixture(scope="module")
def files(exported, tmp_path_factory):
    """(exported pets, its task, the converter's int8 file, that file rewritten for phones, the rewrite's facts)."""
    e = exported("pets")
    task = json.loads((e.bundle / "keras" / "task.json").read_text())
    out = tmp_path_factory.mktemp("edges")
    original, phone = out / "converter.int8.tflite", out / "phone.int8.tflite"
    export_tflite(e.model, original, variant("tflite-int8"), representative_batches(e.data.x_train, 64, 0))
    shutil.copyfile(original, phone)
    return e, task, original, phone, phone_edges(phone, task)


def _inner_input(path, pixels: np.ndarray, name: str) -> np.ndarray:
    """The int8 tensor `name` inside the file at `path` after one call on `pixels` (one image)."""
    interpreter = litert.Interpreter(model_path=str(path), experimental_preserve_all_tensors=True)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], pixels[None])
    interpreter.invoke()
    (inner,) = [t for t in interpreter.get_tensor_details() if t["name"] == name]
    return interpreter.get_tensor(inner["index"])


@pytest.mark.filterwarnings("ignore:.*experimental_preserve_all_tensors")  # the inner tensor is what is checked
def test_uint8_pixels_give_the_table_paths_integers_for_every_pixel_value(files):
    e, task, original, phone, facts = files
    assert facts["input"].startswith("uint8 RGB pixels") and facts["output"].startswith("uint8")
    converter, rewritten = load(original, threads=1), load(phone, threads=1)
    (spec,) = converter.input_specs
    assert spec.dtype == "int8" and rewritten.input_specs[0].dtype == "uint8" and rewritten.input_specs[0].scale is None
    normalized = ImagePreprocessor(task["preprocessing"], spec.shape).normalized
    table = pixel_table(normalized, lambda x: to_engine_dtype(x, spec, None, converter.engine.rounding))
    pixels = every_pixel_value(spec.shape[1])
    assert all(len(np.unique(pixels[k][..., c])) == 256 for k in range(3) for c in range(3))
    by_table = table(pixels)
    np.testing.assert_array_equal(by_table, converter.engine_input(normalized(pixels)))  # the float path's integers
    for k in range(len(pixels)):  # inside the rewritten file: the very integers the table gives
        np.testing.assert_array_equal(_inner_input(phone, pixels[k], spec.name)[0], by_table[k])
    answers = converter.predict_tensor(by_table)
    np.testing.assert_array_equal(rewritten.predict_tensor(pixels), answers)  # uint8 out: the same probabilities
    np.testing.assert_array_equal(converter.predict_tensor(normalized(pixels)), answers)


def test_the_phone_file_has_no_float_tensor_and_a_shifted_uint8_output(files):
    _, _, original, phone, _ = files
    assert float_ops(phone) == []
    converter, rewritten = load(original, threads=1).info()["outputs"][0], load(phone, threads=1).info()["outputs"][0]
    assert (converter["dtype"], rewritten["dtype"]) == ("int8", "uint8")
    assert rewritten["scale"] == converter["scale"] and rewritten["zero_point"] == converter["zero_point"] + 128


def test_the_bundle_feeds_pixels_and_takes_normalised_tensors_too(files, tmp_path):
    from PIL import Image

    e = files[0]
    model = load(e.bundle, variant="tflite-int8")
    assert model.takes_pixels and model.pixel_table is None and model.info()["takes_pixels"]
    pixels = every_pixel_value(model.input_specs[0].shape[1])
    paths = []
    for k, image in enumerate(pixels):
        paths.append(tmp_path / f"{k}.png")
        Image.fromarray(image).save(paths[-1])
    assert model.preprocess(paths).dtype == np.uint8
    np.testing.assert_array_equal(model.preprocess(paths), pixels)
    expected = model.predict_tensor(pixels)
    np.testing.assert_array_equal(model.predict(paths), expected)
    # a normalised float batch (what predict_tensor takes for every image variant) is fed as its pixels
    np.testing.assert_array_equal(model.predict_tensor(model.preprocessor(paths)), expected)


def test_mediapipe_computes_the_runtimes_numbers_from_the_pixels(files):
    pytest.importorskip("mediapipe.tasks.python.vision")
    from edgeport.export.targets.mediapipe_parity import classify

    e = files[0]
    model = load(e.bundle, variant="tflite-int8")
    pixels = every_pixel_value(model.input_specs[0].shape[1])
    scores = classify(e.bundle / "model.int8.tflite", pixels, model.labels)
    np.testing.assert_allclose(scores, model.predict_tensor(pixels), rtol=0, atol=1e-7)
