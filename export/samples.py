"""The data export checks and calibrates with, read from the bundle alone: `keras/test.npz`,
`keras/calibration.npz` and, where training wrote it, `keras/agreement.npz`, as `task.json` lists them
(file, sha256). Photos stored as the photos themselves (`pixels` in the entry) are decoded and normalised here,
as training decoded and normalised them."""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import PIL

from edgeport.runtime.errors import EdgeportError, ImageError
from edgeport.runtime.manifest import sha256_file
from edgeport.runtime.preprocess import load_pixels, normalize

NORMALIZATIONS = ("mobilenet", "tf", "unit", "imagenet-caffe", "none")  # the ones `normalize` applies without further parameters
PHOTO_KEYS = ("x_photos", "x_offsets", "x_index", "x_flips")  # photos stored as themselves (train.stored_photos)

RETRAIN = "train it again with this version of edgeport-train (it writes them into the bundle)"


class BundleDataError(EdgeportError):
    """The bundle lacks its test or calibration data, or they do not match task.json."""


@dataclass(frozen=True)
class BundleData:
    """What `export_bundle` needs: training inputs to calibrate with, and the test set to check on."""

    x_train: np.ndarray  # the calibration sample
    x_test: np.ndarray
    y_test: np.ndarray
    x_agreement: np.ndarray | None = None  # every input of the task, to judge class agreement on (images)


def _read(keras_dir: Path, entry: Any, role: str, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    if not isinstance(entry, dict) or not isinstance(entry.get("file"), str) or not isinstance(entry.get("sha256"), str):
        raise BundleDataError(f"{keras_dir / 'task.json'} does not describe the {role} data (file, sha256); {RETRAIN}")
    path = keras_dir / Path(entry["file"]).name
    if not path.is_file():
        raise BundleDataError(f"the bundle's {role} data {path} is missing; {RETRAIN}")
    if sha256_file(path) != entry["sha256"]:
        raise BundleDataError(f"{path} has changed since training (its sha256 differs from task.json's); {RETRAIN}")
    pixels = entry.get("pixels")
    stored = (*PHOTO_KEYS, *keys[1:]) if pixels is not None else keys
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in stored if k not in archive.files]
            if missing:
                raise BundleDataError(f"{path} lacks {', '.join(missing)}; {RETRAIN}")
            arrays = {k: archive[k] for k in stored}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise BundleDataError(f"{path} is not a readable .npz archive ({exc}); {RETRAIN}") from None
    if pixels is not None:
        arrays["x"] = decode_photos(arrays, pixels, path)
    return arrays


def decode_photos(arrays: dict[str, np.ndarray], pixels: Any, path: Path) -> np.ndarray:
    """Photos stored as the photos themselves (`train.stored_photos`) → the model's float32 inputs: decoded by
    the runtime's Pillow code as training decoded them, mirrored where flagged, normalised; the decoded pixels
    must hash to the sha256 training recorded."""
    if (not isinstance(pixels, dict) or pixels.get("stored") != "photos" or not isinstance(pixels.get("size"), int)
            or not isinstance(pixels.get("interpolation"), str) or pixels.get("normalization") not in NORMALIZATIONS
            or not isinstance(pixels.get("sha256"), str)):
        raise BundleDataError(f"task.json does not say how {path}'s photos are stored (pixels: stored, size, "
                              f"interpolation, normalization, sha256); {RETRAIN}")
    photos, offsets, index, flips = (arrays.pop(k) for k in PHOTO_KEYS)
    if (offsets.ndim != 1 or len(offsets) == 0 or offsets[0] != 0 or offsets[-1] != len(photos)
            or np.any(np.diff(offsets) < 0) or len(index) != len(flips) or np.any((index < 0) | (index >= len(offsets) - 1))):
        raise BundleDataError(f"{path}'s photo offsets or indices are inconsistent; {RETRAIN}")
    size, digest = pixels["size"], hashlib.sha256()
    x = np.empty((len(index), size, size, 3), dtype=np.uint8)
    decoded: dict[int, np.ndarray] = {}
    for i, (j, flip) in enumerate(zip(index.tolist(), flips.tolist())):
        if j not in decoded:
            data = photos[offsets[j] : offsets[j + 1]].tobytes()
            try:
                decoded[j] = load_pixels(data, (size, size), pixels["interpolation"])
            except ImageError as exc:
                raise BundleDataError(f"{path}: photo {j}: {exc}; {RETRAIN}") from None
        x[i] = decoded[j][:, ::-1] if flip else decoded[j]
        digest.update(x[i].tobytes())
    if digest.hexdigest() != pixels["sha256"]:
        raise BundleDataError(f"{path}'s photos decode to other pixels here (Pillow {PIL.__version__}) than when the model "
                              "was trained: export where it was trained, or train it again here")
    return normalize(x.astype(np.float32), pixels["normalization"])


def read_bundle_data(bundle: str | Path, task: dict[str, Any]) -> BundleData:
    """The test set and calibration sample the bundle carries, checked against their hashes in task.json."""
    keras_dir = Path(bundle) / "keras"
    data = task.get("data")
    if not isinstance(data, dict):
        raise BundleDataError(
            f"{Path(bundle)} was trained before bundles carried their test and calibration data "
            f"(keras/test.npz, keras/calibration.npz); {RETRAIN}"
        )
    test = _read(keras_dir, data.get("test"), "test", ("x", "y"))
    calibration = _read(keras_dir, data.get("calibration"), "calibration", ("x",))
    if len(test["x"]) != len(test["y"]) or len(test["x"]) == 0 or len(calibration["x"]) == 0:
        raise BundleDataError(f"the test or calibration data in {keras_dir} is empty or inconsistent; {RETRAIN}")
    agreement = _read(keras_dir, data["agreement"], "agreement", ("x",))["x"] if "agreement" in data else None
    return BundleData(calibration["x"], test["x"], test["y"], agreement)
