"""What export needs from training, written into the bundle: `keras/test.npz` (the held-out set, model-ready),
`keras/calibration.npz` (a seeded sample of the training inputs) and, for images, `keras/agreement.npz` (every
photo, training ones too, and its mirror image: class agreement needs no labels, so export judges it on far more
inputs than the held-out set), each listed with its sha256 in task.json. Photos are stored as the photos themselves
(`train.stored_photos`; `pixels` in task.json says how export makes them model-ready, exactly as training did).

Arrays are written into the `.npz` archive batch by batch, so a streamed image set never sits in memory whole.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from edgeport.runtime.manifest import sha256_file
from edgeport.train.data import stratified_split
from edgeport.train.images import ImageFiles
from edgeport.train.stored_photos import encode_photos

TEST_FILE = "test.npz"
CALIBRATION_FILE = "calibration.npz"
MAX_TEST_IMAGES = 2000  # a larger image test set is sampled (seeded, stratified) for export's checks
MAX_TEST_TEXTS = 20000
# export draws its calibration sample (default 300) from these
CALIBRATION_TEXTS = 1000
CALIBRATION_IMAGES = 300
AGREEMENT_FILE = "agreement.npz"
MAX_AGREEMENT_PHOTOS = 1000  # a larger folder is sampled (seeded); each photo is also written mirrored


def _batches(x: np.ndarray, rows: int = 4096) -> Iterator[np.ndarray]:
    for start in range(0, len(x), rows):
        yield np.ascontiguousarray(x[start : start + rows])


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """An uncompressed `.npz` (what `np.savez` writes), each array streamed in batches; atomic."""
    tmp = path.with_name(f".{path.name}.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, x in arrays.items():
            dtype = np.asarray(x[:0]).dtype
            header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": tuple(x.shape)}
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array_header_2_0(member, header)
                for batch in _batches(x):
                    member.write(batch.tobytes())
    os.replace(tmp, path)


def _inputs(x: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays of x (`x`, or the photos' `x_*` arrays) and the task.json fields that describe them."""
    if isinstance(x, ImageFiles):
        arrays, pixels = encode_photos(x)
        return arrays, {"pixels": pixels}
    return {"x": x}, {}


def test_sample(x_test: Any, y_test: np.ndarray, seed: int) -> np.ndarray:
    """Indices of the test items export checks on: all of them, or a seeded stratified sample of a large set."""
    limit = MAX_TEST_IMAGES if isinstance(x_test, ImageFiles) else MAX_TEST_TEXTS
    if len(y_test) <= limit:
        return np.arange(len(y_test))
    _, held = stratified_split(np.asarray(y_test), limit / len(y_test), seed)
    return held[:limit]


def calibration_sample(n: int, limit: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=min(limit, n), replace=False))


def agreement_photos(x_train: ImageFiles, x_test: ImageFiles, seed: int) -> ImageFiles:
    """Every photo of the task (a seeded sample of a large folder), then each of them mirrored."""
    photos = ImageFiles(x_train.paths + x_test.paths, x_train.size, x_train.interpolation)
    if len(photos) > MAX_AGREEMENT_PHOTOS:
        photos = photos[calibration_sample(len(photos), MAX_AGREEMENT_PHOTOS, seed)]
    return photos.with_flips()


def write_samples(keras_dir: Path, x_train: Any, x_test: Any, y_test: np.ndarray, seed: int) -> dict[str, Any]:
    """Write the files; return task.json's `data` entry (file, sha256, samples, and of how many)."""
    test_rows = test_sample(x_test, y_test, seed)
    limit = CALIBRATION_IMAGES if isinstance(x_train, ImageFiles) else CALIBRATION_TEXTS
    calibration_rows = calibration_sample(len(x_train), limit, seed)
    test, test_pixels = _inputs(x_test[test_rows])
    calibration, calibration_pixels = _inputs(x_train[calibration_rows])
    write_npz(keras_dir / TEST_FILE, {**test, "y": np.asarray(y_test)[test_rows]})
    write_npz(keras_dir / CALIBRATION_FILE, calibration)
    entries = {
        "test": {"file": TEST_FILE, "sha256": sha256_file(keras_dir / TEST_FILE), "samples": int(len(test_rows)),
                 "of": int(len(y_test)), **test_pixels},
        "calibration": {"file": CALIBRATION_FILE, "sha256": sha256_file(keras_dir / CALIBRATION_FILE),
                        "samples": int(len(calibration_rows)), "of": int(len(x_train)), **calibration_pixels},
    }
    if isinstance(x_train, ImageFiles) and isinstance(x_test, ImageFiles):
        photos, pixels = _inputs(agreement_photos(x_train, x_test, seed))
        write_npz(keras_dir / AGREEMENT_FILE, photos)
        entries["agreement"] = {"file": AGREEMENT_FILE, "sha256": sha256_file(keras_dir / AGREEMENT_FILE),
                                "samples": len(photos["x_index"]), "of": len(x_train) + len(x_test), **pixels}
    return entries
