"""Training length chosen by the data: the plan's arithmetic, early stopping that keeps the best epoch's
weights, and a tiny separable set that the defaults learn completely where a fixed small count does not."""

from __future__ import annotations

import csv
import json

import keras
import numpy as np
import pytest

from edgeport.train import cli, schedule


def test_the_minimum_steps_set_the_epochs_for_a_small_set():
    # 290 texts at batch 64: 5 steps an epoch, so 300 steps are 60 epochs; the budget makes room for the patience
    plan = schedule.plan(30, 300, 3, 290, 64, has_validation=True)
    assert (plan.steps_per_epoch, plan.min_epochs, plan.epochs, plan.patience) == (5, 60, 63, 3)
    # 7,186 newswires: 113 steps an epoch; 3 epochs reach the minimum and the budget is the recipe's 30
    plan = schedule.plan(30, 300, 3, 7186, 64, has_validation=True)
    assert (plan.steps_per_epoch, plan.min_epochs, plan.epochs) == (113, 3, 30)


def test_without_validation_or_patience_the_count_is_fixed():
    assert schedule.plan(5, 0, 3, 1000, 16, has_validation=False) == schedule.Schedule(5, 1, 0, 63)
    assert schedule.callbacks(schedule.plan(5, 0, 0, 1000, 16, has_validation=True)) == []
    # a minimum of steps is still a floor without a validation set
    assert schedule.plan(5, 300, 3, 40, 16, has_validation=False).epochs == 100


def test_early_stopping_restores_the_best_epoch():
    # The validation labels are the training labels flipped: the better the model fits, the worse its
    # validation loss, so the best epoch is an early one and training stops long before the budget.
    rng = np.random.RandomState(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="binary_crossentropy")
    snapshots = []
    keep = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: snapshots.append(model.get_weights()))
    plan = schedule.plan(40, 2, 3, 64, 32, has_validation=True)  # 2 steps an epoch: early stopping from epoch 1 on
    stopper = schedule.callbacks(plan)
    history = model.fit(x, y, validation_data=(x, 1 - y), batch_size=32, epochs=plan.epochs, shuffle=False,
                        callbacks=[keep, *stopper], verbose=0).history
    done = schedule.outcome(plan, history, stopper)
    best = int(np.argmin(history["val_loss"]))
    assert done["stopped_early"] and done["epochs_run"] == best + 1 + plan.patience < plan.epochs
    assert done["best_epoch"] == best + 1
    for kept, expected, last in zip(model.get_weights(), snapshots[best], snapshots[-1]):
        np.testing.assert_array_equal(kept, expected)
        assert not np.array_equal(kept, last)


SEPARABLE = {"ship": ["vessel cargo harbour port", "tanker freight harbour dock", "cargo ship port crane"],
             "wheat": ["grain harvest crop farm", "wheat field harvest silo", "farm crop grain bushel"]}


@pytest.fixture
def separable_csv(tmp_path):
    path = tmp_path / "separable.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows((f"{text} {i}", label) for i in range(8) for label, items in SEPARABLE.items() for text in items)
    return path


def test_a_tiny_separable_set_is_learned_completely_by_default_not_in_one_epoch(separable_csv, tmp_path, capsys):
    # 48 texts: 9 held out, 31 trained on, at batch 4 (for speed, as the model is made smaller) 8 steps an
    # epoch. The default schedule trains at least 300 steps; one fixed epoch is 8.
    small = ["--num-words", "100", "--maxlen", "8", "--embedding-dim", "8", "--batch-size", "4", "--quiet"]
    assert cli.main(["text", "--data", str(separable_csv), "--out", str(tmp_path / "default"), *small]) == 0
    by_default = json.loads((tmp_path / "default" / "keras" / "metrics.json").read_text())
    assert by_default["test_accuracy"] == 1.0 and by_default["better_than_majority"] is True
    assert by_default["schedule"]["steps_per_epoch"] == 8 and by_default["schedule"]["epochs_run"] >= 38
    assert "(early stopping; the weights of epoch" in capsys.readouterr().out

    assert cli.main(["text", "--data", str(separable_csv), "--out", str(tmp_path / "one"), *small, "--epochs", "1"]) == 0
    fixed = json.loads((tmp_path / "one" / "keras" / "metrics.json").read_text())
    assert fixed["schedule"]["epochs_run"] == 1 and fixed["schedule"]["patience"] == 0  # --epochs N: exactly N
    assert fixed["test_accuracy"] < 1.0
