"""uint8 pixels → a quantised input through a 256-entry table: exactly the float path's integers."""

from __future__ import annotations

import numpy as np
import pytest

from edgeport import runtime
from edgeport.runtime.pixel_table import pixel_table
from edgeport.runtime.preprocess import ImagePreprocessor, load_pixels
from edgeport.runtime.quant import ROUNDINGS, quantize

ALL_BYTES = np.arange(256, dtype=np.uint8)

# (normalisation, scale, zero point, dtype): what int8 image models use (mobilenet's [-1, 1] as the
# converters quantise it), and scales that put pixel values exactly between two integers.
CASES = [
    ("mobilenet", 0.007843137718737125, -1, "int8"),  # the exported pets model's int8 input (float32 of 2/255)
    ("mobilenet", 2 / 255, -1, "int8"),
    ("mobilenet", 0.0078125, 0, "int8"),
    ("mobilenet", 0.0078125, -128, "int8"),  # saturates above the middle
    ("mobilenet", 2 / 255, 127, "uint8"),
    ("mobilenet", 0.003, 0, "int8"),          # saturates both ways
    ("mobilenet", 1e-4, 3, "int16"),
    ("none", 2.0, 0, "int8"),                 # every odd pixel is a tie
    ("none", 4.0, -100, "int8"),
    ("none", 1.0, -128, "int8"),
    ("none", 0.5, 0, "uint8"),
]


def preprocessor(normalization: str) -> ImagePreprocessor:
    return ImagePreprocessor({"type": "image", "size": [16, 16], "normalization": normalization})


def float_path(pixels: np.ndarray, normalization: str, scale: float, zero_point: int, dtype: str,
               rounding: str) -> np.ndarray:
    """What the runtime did before the table: normalise in float32, then quantise."""
    return quantize(preprocessor(normalization).normalized(pixels), scale, zero_point, dtype, rounding)


@pytest.mark.parametrize("rounding", ROUNDINGS)
@pytest.mark.parametrize("normalization,scale,zero_point,dtype", CASES)
def test_the_table_equals_the_float_path_for_every_pixel_value(normalization, scale, zero_point, dtype, rounding):
    to_engine = lambda x: quantize(x, scale, zero_point, dtype, rounding)  # noqa: E731
    table = pixel_table(preprocessor(normalization).normalized, to_engine)
    assert table is not None and table.shared and table.dtype == np.dtype(dtype)
    pixels = np.stack([ALL_BYTES, ALL_BYTES[::-1], np.roll(ALL_BYTES, 85)], axis=-1).reshape(1, 16, 16, 3)
    looked_up = table(pixels)
    assert looked_up.dtype == np.dtype(dtype) and looked_up.shape == pixels.shape
    np.testing.assert_array_equal(looked_up, float_path(pixels, normalization, scale, zero_point, dtype, rounding))
    batch = np.random.default_rng(1).integers(0, 256, (3, 70, 50, 3), dtype=np.uint8)  # several chunks, one partial
    np.testing.assert_array_equal(table(batch), float_path(batch, normalization, scale, zero_point, dtype, rounding))


def test_the_cases_hold_ties_that_the_rounding_modes_settle_differently():
    pixels = ALL_BYTES.reshape(1, 16, 16, 1).repeat(3, axis=-1)
    away, even = (float_path(pixels, "none", 2.0, 0, "int8", r) for r in ("reference", "onnx"))
    assert (away != even).sum() > 100  # ties away from zero and ties to even part on many odd pixels


def test_channels_read_in_another_order_get_their_own_tables():
    """A normalisation that reverses the channels (RGB → BGR) and shifts each by its own mean."""
    mean = np.array([103.939, 116.779, 123.68], np.float32)
    normalized = lambda p: p[..., ::-1].astype(np.float32) - mean  # noqa: E731
    to_engine = lambda x: quantize(x, 0.9, 3, "int8", "xnnpack")  # noqa: E731
    table = pixel_table(normalized, to_engine)
    assert table is not None and table.sources == (2, 1, 0) and not table.shared
    batch = np.random.default_rng(2).integers(0, 256, (2, 9, 7, 3), dtype=np.uint8)
    np.testing.assert_array_equal(table(batch), to_engine(normalized(batch)))


def test_no_table_where_the_result_is_not_a_function_of_each_byte():
    per_image = lambda p: (p - p.mean(axis=(1, 2, 3), keepdims=True)).astype(np.float32) / 64  # noqa: E731
    mixing = lambda p: np.repeat(p.astype(np.float32).mean(axis=-1, keepdims=True), 3, axis=-1) / 128  # noqa: E731
    to_engine = lambda x: quantize(x, 0.01, 0, "int8")  # noqa: E731
    assert pixel_table(per_image, to_engine) is None
    assert pixel_table(mixing, to_engine) is None
    assert pixel_table(preprocessor("mobilenet").normalized, lambda x: x) is None  # a float input: nothing to do
    with np.errstate(divide="ignore"):  # a byte the float path refuses (here 0 → inf): the float path stays
        assert pixel_table(lambda p: 1 / p.astype(np.float32), to_engine) is None


def test_an_int8_image_model_is_fed_from_the_table(image_int8io, image_bundle, models_dir):
    """A full-integer file with an int8 input (the converter's; export's own takes pixels instead)."""
    paths = sorted(str(p) for p in (models_dir / "images").iterdir() if p.suffix in (".jpg", ".png"))
    model = runtime.load(image_int8io, variant="tflite-int8")
    assert model.pixel_table is not None
    x = model.preprocess(paths)
    assert x.dtype == np.int8
    np.testing.assert_array_equal(x, model.engine_input(model.preprocessor(paths)))  # the float path's integers
    np.testing.assert_array_equal(model.predict(paths), model.predict_tensor(model.preprocessor(paths)))
    arrays = list(model.preprocessor.pixels(paths))  # uint8 arrays: the table too
    np.testing.assert_array_equal(model.preprocess(arrays), x)
    floats = model.preprocessor.pixels(paths).astype(np.float32) + 0.25  # float pixels: the float path
    np.testing.assert_array_equal(model.preprocess(list(floats)), model.preprocessor(list(floats)))
    mixed = [paths[0], floats[1]]
    np.testing.assert_array_equal(model.preprocess(mixed), model.preprocessor(mixed))  # one float item: floats
    assert runtime.load(image_bundle, variant="tflite-fp32").pixel_table is None


def test_pillow_applies_the_table_while_decoding(models_dir):
    """`PixelTable.lut` through `load_pixels` (`bytes.translate` for one shared map, Pillow's `Image.point` per
    channel) gives the table's own lookup, on non-square images too."""
    mean = np.array([10.0, 100.0, 200.0], np.float32)
    per_channel = pixel_table(lambda p: p.astype(np.float32) - mean, lambda x: quantize(x, 0.8, -7, "int8", "onnx"))
    shared = pixel_table(preprocessor("mobilenet").normalized, lambda x: quantize(x, 2 / 255, -1, "int8"))
    wide = pixel_table(preprocessor("mobilenet").normalized, lambda x: quantize(x, 1e-4, 0, "int16"))
    assert wide.lut is None and len(shared.lut) == 256 and len(per_channel.lut) == 768 and not per_channel.shared
    for path in sorted((models_dir / "images").glob("*.*g")):
        pixels = load_pixels(path, (24, 20), "bilinear")
        for table in (shared, per_channel):
            looked_up = load_pixels(path, (24, 20), "bilinear", lut=table.lut).view(np.int8)
            np.testing.assert_array_equal(looked_up, table(pixels))
