"""The data export checks and calibrates with, read from the bundle alone: `keras/test.npz`,
`keras/calibration.npz` and, where training wrote it, `keras/agreement.npz`, as `task.json` lists them
(file, sha256). Photos stored as uint8 (`pixels` in the entry) are normalised here, as training normalised them."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeport.runtime.errors import EdgeportError
from edgeport.runtime.manifest import sha256_file
from edgeport.runtime.preprocess import normalize

NORMALIZATIONS = ("mobilenet", "tf", "unit", "imagenet-caffe", "none")  # the ones `normalize` applies without further parameters

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
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in keys if k not in archive.files]
            if missing:
                raise BundleDataError(f"{path} lacks {', '.join(missing)}; {RETRAIN}")
            arrays = {k: archive[k] for k in keys}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise BundleDataError(f"{path} is not a readable .npz archive ({exc}); {RETRAIN}") from None
    if "pixels" in entry:  # photos stored as decoded uint8: made model-ready as training made them
        arrays["x"] = model_ready(arrays["x"], entry["pixels"], path)
    return arrays


def model_ready(x: np.ndarray, pixels: Any, path: Path) -> np.ndarray:
    """Stored uint8 pixels → the model's float32 input, by the normalisation task.json names."""
    normalization = pixels.get("normalization") if isinstance(pixels, dict) else None
    if x.dtype != np.uint8 or normalization not in NORMALIZATIONS:
        raise BundleDataError(f"{path} holds {x.dtype} pixels with normalisation {normalization!r}, not uint8 with one of "
                              f"{', '.join(NORMALIZATIONS)}; {RETRAIN}")
    return normalize(x.astype(np.float32), normalization)


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
