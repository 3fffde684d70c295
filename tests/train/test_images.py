"""The streamed image pipeline gives the pixels the device's preprocessing gives, and trains `image` on a folder."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.train.conftest import write_image_folder
from edgeport.export.samples import read_bundle_data
from edgeport.runtime.preprocess import ImagePreprocessor
from edgeport.train import cli
from edgeport.train.data import DataError, list_image_folder
from edgeport.train.images import ImageFiles, image_dataset

# Measured on the shared photos (README, "Streaming large folders"): Pillow inside the pipeline gives the
# runtime's pixels exactly; only float rounding of the normalisation could differ.
PIXEL_TOLERANCE = 1e-6


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest", "bicubic"])
def test_pipeline_pixels_equal_the_runtime_preprocessing(tmp_path, interpolation):
    folder = list_image_folder(write_image_folder(tmp_path / "imgs", {"a": 4, "b": 3}, size=53))
    files = ImageFiles(tuple(map(str, folder.paths)), 32, interpolation)
    streamed, labels = [], []
    for x, y in image_dataset(files, folder.labels, 3, None):
        streamed.append(x.numpy())
        labels.append(y.numpy())
    device = ImagePreprocessor({"size": [32, 32], "interpolation": interpolation, "normalization": "mobilenet"})(folder.paths)
    assert np.abs(np.concatenate(streamed) - device).max() <= PIXEL_TOLERANCE
    np.testing.assert_array_equal(np.concatenate(labels), folder.labels)
    assert device.min() >= -1.0 and device.max() <= 1.0 and device.std() > 0.1


def test_shuffling_shuffles_files_with_their_labels(tmp_path):
    folder = list_image_folder(write_image_folder(tmp_path / "imgs", {"a": 5, "b": 5}, size=16))
    files = ImageFiles(tuple(map(str, folder.paths)), 16, "bilinear")
    reference = {p: files.pixels(p).tobytes() for p in files.paths}
    by_pixels = {v: folder.labels[i] for i, v in enumerate(reference.values())}
    seen = [(x.tobytes(), int(y)) for xb, yb in image_dataset(files, folder.labels, 4, 7) for x, y in zip(xb.numpy(), yb.numpy())]
    assert sorted(by_pixels[p] for p, _ in seen) == sorted(folder.labels.tolist())
    assert all(by_pixels[p] == y for p, y in seen)


def test_image_task_trains_on_a_folder_with_a_test_folder(tmp_path):
    train = write_image_folder(tmp_path / "train", {"cats": 5, "dogs": 4}, seed=1)
    test = write_image_folder(tmp_path / "test", {"cats": 2, "dogs": 3}, seed=2)
    out = tmp_path / "out"
    args = ["image", "--data", str(train), "--test", str(test), "--out", str(out), "--epochs", "1", "--quiet",
            "--image-size", "32", "--base-weights", "none"]
    assert cli.main(args) == 0
    task = json.loads((out / "keras" / "task.json").read_text())
    assert task["task"] == "image" and task["labels"] == ["cats", "dogs"]
    saved = read_bundle_data(out, task)  # the photos as export reads them back
    expected = ImagePreprocessor(task["preprocessing"])(sorted((test / "cats").iterdir()) + sorted((test / "dogs").iterdir()))
    assert np.abs(saved.x_test - expected).max() <= PIXEL_TOLERANCE and saved.y_test.tolist() == [0, 0, 1, 1, 1]
    assert saved.x_train.shape == (9, 32, 32, 3)


def test_a_broken_file_met_while_streaming_is_one_clear_error(tmp_path):
    root = write_image_folder(tmp_path / "imgs", {"a": 3, "b": 3}, size=16)
    (root / "a" / "broken.jpg").write_bytes(b"not a jpeg")
    folder = list_image_folder(root)
    files = ImageFiles(tuple(map(str, folder.paths)), 16, "bilinear")
    with pytest.raises(DataError, match="broken.jpg"):
        list(files.batches())


def test_image_task_needs_its_folder(capsys):
    assert cli.main(["image", "--epochs", "1"]) == 2
    assert "pass --data PATH" in capsys.readouterr().err
