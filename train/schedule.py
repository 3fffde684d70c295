"""How long a model trains: chosen by the data, not a fixed epoch count.

A recipe with `patience > 0` trains for at least `min_steps` optimizer steps (450 texts are a handful of
steps an epoch, 9,000 newswires a hundred), then stops when the validation loss has not improved for
`patience` epochs, within a budget of `epochs`, and keeps the weights of its best epoch
(`keras.callbacks.EarlyStopping(restore_best_weights=True)`). `patience=0` (or `--epochs N`) trains
exactly `epochs` epochs; without validation data `min_steps` still sets a floor.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import keras

MONITOR = "val_loss"


@dataclass(frozen=True)
class Schedule:
    """What `fit` is told: at most `epochs`; with `patience`, early stopping from epoch `min_epochs` on."""

    epochs: int
    min_epochs: int
    patience: int
    steps_per_epoch: int

    @property
    def early_stopping(self) -> bool:
        return self.patience > 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def steps_per_epoch(samples: int, batch_size: int) -> int:
    return max(1, math.ceil(samples / batch_size))


def plan(epochs: int, min_steps: int, patience: int, train_samples: int, batch_size: int, has_validation: bool) -> Schedule:
    """The schedule for `train_samples` training inputs at `batch_size`.

    Args:
        epochs: the recipe's epoch count: a budget with early stopping, else exactly what runs (at least
            the minimum below).
        min_steps: optimizer steps before early stopping may stop (0: none).
        patience: epochs without a better validation loss before stopping (0: no early stopping).
        has_validation: False turns early stopping off (there is no validation loss to watch).
    """
    steps = steps_per_epoch(train_samples, batch_size)
    min_epochs = max(1, math.ceil(min_steps / steps)) if min_steps else 1
    patience = patience if has_validation else 0
    if patience:
        return Schedule(max(epochs, min_epochs + patience), min_epochs, patience, steps)
    return Schedule(max(epochs, min_epochs), min_epochs, 0, steps)


def callbacks(schedule: Schedule) -> list[keras.callbacks.Callback]:
    """Early stopping on the validation loss, watched from the minimum epoch on, best weights restored."""
    if not schedule.early_stopping:
        return []
    return [keras.callbacks.EarlyStopping(
        monitor=MONITOR, patience=schedule.patience, restore_best_weights=True, start_from_epoch=schedule.min_epochs - 1,
    )]


def outcome(schedule: Schedule, history: dict[str, list[float]], stopper: list[keras.callbacks.Callback]) -> dict[str, Any]:
    """What ran, for metrics.json: the schedule, the epochs run and the epoch whose weights were kept."""
    run = len(history.get("loss", []))
    done = {**schedule.as_dict(), "epochs_run": run, "best_epoch": run}
    if stopper and getattr(stopper[0], "best_weights", None) is not None:
        done["best_epoch"] = int(stopper[0].best_epoch) + 1
    done["stopped_early"] = bool(stopper and run < schedule.epochs)
    return done
