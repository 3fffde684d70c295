"""The agreement set training writes for images: every photo (training and test) and its mirror image,
hashed in task.json and read back by export; text bundles have none (export uses the test split)."""

from pathlib import Path

import numpy as np

from edgeport.export.samples import read_bundle_data
from edgeport.train.images import ImageFiles
from edgeport.train.samples import write_samples
from tests.train.conftest import write_image_folder


def image_files(root, size=8) -> ImageFiles:
    return ImageFiles(tuple(str(p) for p in sorted(root.rglob("*")) if p.is_file()), size, "bilinear")


def test_images_are_every_photo_and_its_horizontal_flip(tmp_path):
    files = image_files(write_image_folder(tmp_path / "pets", {"cats": 4, "dogs": 3}))
    x_train, x_test = files[np.arange(5)], files[np.arange(5, 7)]
    keras_dir = tmp_path / "keras"
    keras_dir.mkdir()
    entries = write_samples(keras_dir, x_train, x_test, np.array([1, 1]), seed=0)
    assert entries["agreement"]["samples"] == 14 and entries["agreement"]["of"] == 7
    data = read_bundle_data(tmp_path, {"data": entries})
    photos = np.stack([files.pixels(p) for p in files.paths])
    x = data.x_agreement
    assert x.shape == (14, 8, 8, 3)
    np.testing.assert_array_equal(x[:7], photos)
    # pixel (row 1, column 0) of a mirror image is pixel (row 1, column 7) of the photo
    np.testing.assert_array_equal(x[7 + 3, 1, 0], photos[3, 1, 7])
    np.testing.assert_array_equal(x[7:, :, ::-1], photos)


def test_text_bundles_have_no_agreement_file(tmp_path):
    keras_dir = tmp_path / "keras"
    keras_dir.mkdir()
    x_train, x_test = np.arange(12).reshape(4, 3), np.arange(6).reshape(2, 3) + 100
    entries = write_samples(keras_dir, x_train, x_test, np.array([0, 1]), seed=0)
    assert "agreement" not in entries and not (keras_dir / "agreement.npz").exists()
    assert read_bundle_data(tmp_path, {"data": entries}).x_agreement is None


def test_photos_are_stored_as_themselves_and_read_back_exactly_as_model_ready_floats(tmp_path):
    from edgeport.runtime.preprocess import load_image, normalize

    files = image_files(write_image_folder(tmp_path / "pets", {"cats": 4, "dogs": 3}), size=16)
    keras_dir = tmp_path / "keras"
    keras_dir.mkdir()
    entries = write_samples(keras_dir, files[np.arange(5)], files[np.arange(5, 7)], np.array([0, 1]), seed=0)
    data = read_bundle_data(tmp_path, {"data": entries})
    # the float32 pixels training feeds the model, made here without ImageFiles
    reference = np.stack([normalize(load_image(p, (16, 16)), "mobilenet") for p in files.paths])
    np.testing.assert_array_equal(data.x_test, reference[5:])
    np.testing.assert_array_equal(data.x_agreement[:7], reference)
    np.testing.assert_array_equal(data.x_agreement[7:], reference[:, :, ::-1])
    assert data.x_train.dtype == np.float32 and len(data.x_train) == 5
    assert {r.tobytes() for r in data.x_train} <= {r.tobytes() for r in reference[:5]}
    photo_bytes = sum(min(Path(p).stat().st_size, 16 * 16 * 3) for p in files.paths)
    with np.load(keras_dir / "agreement.npz") as stored:
        assert len(stored["x_photos"]) <= photo_bytes and stored["x_index"].tolist() == list(range(7)) * 2
        assert stored["x_flips"].tolist() == [False] * 7 + [True] * 7  # each photo stored once, mirrored on load


def test_photos_that_decode_differently_are_refused(tmp_path):
    import json

    import pytest

    from edgeport.export.samples import BundleDataError

    files = image_files(write_image_folder(tmp_path / "pets", {"cats": 3, "dogs": 3}), size=16)
    keras_dir = tmp_path / "keras"
    keras_dir.mkdir()
    entries = write_samples(keras_dir, files[np.arange(4)], files[np.arange(4, 6)], np.array([0, 1]), seed=0)
    entries = json.loads(json.dumps(entries))
    entries["agreement"]["pixels"]["size"] = 12  # decoded otherwise than training decoded them
    with pytest.raises(BundleDataError, match="decode to other pixels here"):
        read_bundle_data(tmp_path, {"data": entries})
