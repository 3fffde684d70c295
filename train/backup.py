"""Resuming a killed run: the last finished epoch's weights, kept beside the run and replaced atomically.

Built on Keras' public API only (`save_weights`, `load_weights`, `fit(initial_epoch=...)`): unlike
`keras.callbacks.BackupAndRestore`, which overwrites its files in place, a run killed while saving
leaves the last complete backup.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import keras

from edgeport.runtime.manifest import atomic_write_bytes

WEIGHTS_FILE = "latest.weights.h5"
METADATA_FILE = "training_metadata.json"


def backup_dir(out: Path, is_chief: bool, task: str) -> Path:
    """Inside the bundle for the chief, outside it for other workers (each restores its own copy)."""
    if is_chief:
        return out / "keras" / "backup"
    tag = f"{out.resolve()}".replace(os.sep, "_").strip("_")
    return Path(tempfile.gettempdir()) / "edgeport-backup" / f"{tag}-{task.replace(':', '-')}"


def finished_epochs(directory: Path) -> int:
    """How many epochs the backup holds (0 when there is none)."""
    metadata = directory / METADATA_FILE
    return int(json.loads(metadata.read_text())["epoch"]) if metadata.is_file() else 0


def restore(model: keras.Model, directory: Path) -> int:
    """Load the backup's weights (optimizer state included) into `model`; the epochs it had finished."""
    epochs = finished_epochs(directory)
    if epochs:
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        model.load_weights(directory / WEIGHTS_FILE)
    return epochs


class EpochBackup(keras.callbacks.Callback):
    """Saves the weights after every epoch (weights first, then the epoch count, each replaced
    atomically); removes the backup when training ends."""

    def __init__(self, directory: Path):
        super().__init__()
        self.directory = Path(directory)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        partial = self.directory / ".partial.weights.h5"
        self.model.save_weights(partial, overwrite=True)
        os.replace(partial, self.directory / WEIGHTS_FILE)
        atomic_write_bytes(self.directory / METADATA_FILE, json.dumps({"epoch": epoch + 1}).encode())

    def on_train_end(self, logs: dict | None = None) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
