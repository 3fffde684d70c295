"""Camera-size JPEGs are decoded at reduced size (Pillow's draft mode) before the usual resize; other
images, and every JPEG with the setting off, at full size."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from edgeport.runtime import limits
from edgeport.runtime.preprocess import ImagePreprocessor, decode_scale, decoded_size, load_image

TARGET = (224, 224)  # height, width


def camera_picture(width: int, height: int) -> Image.Image:
    """A smooth picture with some detail, left half reddish and right half bluish, at camera size."""
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (height // 100, width // 100, 3)).astype(np.uint8)
    small[:, : small.shape[1] // 2, 0] = 250
    small[:, small.shape[1] // 2:, 2] = 250
    return Image.fromarray(small).resize((width, height), Image.Resampling.BICUBIC)


@pytest.fixture(scope="module")
def camera_jpeg(tmp_path_factory):
    path = tmp_path_factory.mktemp("camera") / "photo 12MP.jpg"
    camera_picture(4000, 3000).save(path, quality=90)
    return path


@pytest.mark.parametrize("declared,target,scale", [
    ((4000, 3000), (224, 224), 4),   # 12 MP: 1000×750 keeps twice 224 each way, 500×375 would not
    ((1920, 1080), (224, 224), 2),
    ((3000, 4000), (224, 224), 4),
    ((896, 896), (224, 224), 2),
    ((895, 4000), (224, 224), 1),    # one side under four times the target: full decode
    ((640, 480), (224, 224), 1),
    ((4000, 3000), (32, 32), 8),
    ((4000, 3000), None, 1),         # no target: full decode
])
def test_decode_scale_keeps_twice_the_target(declared, target, scale):
    assert decode_scale(declared, target) == scale
    if target and scale > 1:
        assert all(-(-d // scale) >= 2 * t for d, t in zip(declared, target))
        assert scale == 8 or any(-(-d // (2 * scale)) < 2 * t for d, t in zip(declared, target))  # the largest


def test_decode_scale_is_raised_to_fit_the_pixel_limit(monkeypatch):
    monkeypatch.setattr(limits, "MAX_IMAGE_PIXELS", 1_000_000)
    assert decode_scale((4000, 3000), (224, 224)) == 4  # 750,000 pixels: the target decides
    assert decode_scale((4000, 3000), None) == 4
    monkeypatch.setattr(limits, "MAX_IMAGE_PIXELS", 200_000)
    assert decode_scale((4000, 3000), (224, 224)) == 8  # 187,500 pixels
    monkeypatch.setattr(limits, "MAX_IMAGE_PIXELS", 100_000)
    assert decode_scale((4000, 3000), (224, 224)) == 0  # even 1/8 is too large: refused


@pytest.mark.parametrize("keep_aspect_ratio", [False, True])
def test_a_12_megapixel_jpeg_is_decoded_at_reduced_size(camera_jpeg, keep_aspect_ratio):
    assert decoded_size(camera_jpeg, TARGET) == (1000, 750)
    assert decoded_size(camera_jpeg.read_bytes(), TARGET) == (1000, 750)
    assert decoded_size(camera_jpeg, TARGET, draft=False) == (4000, 3000)
    fast = load_image(camera_jpeg, TARGET, "bilinear", keep_aspect_ratio)
    full = load_image(camera_jpeg, TARGET, "bilinear", keep_aspect_ratio, draft=False)
    assert fast.shape == full.shape == (224, 224, 3)
    diff = np.abs(fast - full)
    assert 0 < diff.mean() < 0.5 and diff.max() <= 4  # the same picture, not the same bytes


def test_the_setting_turns_the_reduced_decode_off(camera_jpeg, monkeypatch):
    spec = {"type": "image", "size": list(TARGET), "interpolation": "bilinear", "normalization": "mobilenet"}
    drafted = ImagePreprocessor(spec)([camera_jpeg])
    monkeypatch.setattr(limits, "JPEG_DRAFT", False)
    assert decoded_size(camera_jpeg, TARGET) == (4000, 3000)
    exact = ImagePreprocessor(spec)([camera_jpeg])
    reference = np.asarray(Image.open(camera_jpeg).convert("RGB").resize((224, 224), Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(exact[0], reference.astype(np.float32) / np.float32(127.5) - np.float32(1))
    assert not np.array_equal(drafted, exact)


def test_a_png_of_the_same_size_is_not_drafted(tmp_path):
    path = tmp_path / "photo.png"
    camera_picture(4000, 3000).save(path, compress_level=1)
    assert decoded_size(path, TARGET) == (4000, 3000)
    reference = np.asarray(Image.open(path).convert("RGB").resize((224, 224), Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(load_image(path, TARGET, "bilinear"), reference.astype(np.float32))


def test_small_jpegs_and_pil_images_are_decoded_as_before(tmp_path, camera_jpeg):
    path = tmp_path / "small.jpg"
    camera_picture(800, 600).save(path, quality=90)  # under four times 224 one way: full decode
    assert decoded_size(path, TARGET) == (800, 600)
    reference = np.asarray(Image.open(path).convert("RGB").resize((224, 224), Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(load_image(path, TARGET, "bilinear"), reference.astype(np.float32))
    opened = Image.open(camera_jpeg)  # a caller's own image object is never changed
    assert decoded_size(opened, TARGET) == (4000, 3000)
    assert load_image(opened, TARGET).shape == (224, 224, 3) and opened.size == (4000, 3000)


def test_exif_orientation_is_kept_as_by_the_full_decode(tmp_path):
    """Like `keras.utils.load_img` (and so training), the runtime does not apply EXIF orientation: a
    camera JPEG tagged "rotate 90°" comes out as stored, whether decoded at reduced size or in full."""
    picture = camera_picture(4000, 3000)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: the viewer should rotate it 90° clockwise
    path = tmp_path / "rotated.jpg"
    picture.save(path, quality=90, exif=exif.tobytes())
    assert Image.open(path).getexif()[0x0112] == 6
    assert decoded_size(path, TARGET) == (1000, 750)
    fast = load_image(path, TARGET, "bilinear")
    full = load_image(path, TARGET, "bilinear", draft=False)
    assert np.abs(fast - full).mean() < 0.5
    left, right = fast[:, :100], fast[:, 124:]
    assert left[..., 0].mean() > 200 and right[..., 2].mean() > 200  # red left, blue right: as stored
    assert left[..., 2].mean() < right[..., 2].mean() - 50
