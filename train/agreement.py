"""The agreement set: every input a task has, for export to compare its artifacts with Keras on.

Class agreement needs no labels, so it is measured on far more inputs than the held-out accuracy: for an
image folder every photo (training ones too) and its horizontal flip; for text the whole test split.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from edgeport.runtime.manifest import atomic_write_bytes

AGREEMENT_FILE = "agreement.npz"


def agreement_inputs(x_train: np.ndarray, x_test: np.ndarray, image: bool) -> np.ndarray:
    """Model-ready inputs to measure agreement on: for images all of them plus their horizontal flips
    (NHWC, so the width axis is 2); for text the test split."""
    if not image:
        return np.asarray(x_test)
    photos = np.concatenate([x_train, x_test], axis=0)
    return np.concatenate([photos, photos[:, :, ::-1, :]], axis=0)


def write_agreement(keras_dir: Path, task_data: Any, image: bool) -> Path:
    """Write `agreement.npz` (key `x`) into the bundle's `keras/` directory."""
    buffer = io.BytesIO()
    np.savez(buffer, x=agreement_inputs(task_data.x_train, task_data.x_test, image))
    return atomic_write_bytes(Path(keras_dir) / AGREEMENT_FILE, buffer.getvalue())
