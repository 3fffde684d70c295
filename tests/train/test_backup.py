"""The per-epoch backup a killed run resumes from: weights and epoch count, replaced atomically."""

from __future__ import annotations

import json

import keras
import numpy as np

from edgeport.train import backup


def small_model(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    return model


def test_a_backup_restores_the_weights_and_the_epoch(tmp_path):
    trained = small_model(1)
    x, y = np.random.RandomState(0).rand(16, 3), np.random.RandomState(1).rand(16, 1)
    trained.fit(x, y, epochs=2, verbose=0)
    callback = backup.EpochBackup(tmp_path / "b")
    callback.set_model(trained)
    callback.on_epoch_end(4)
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == [backup.WEIGHTS_FILE, backup.METADATA_FILE]
    assert json.loads((tmp_path / "b" / backup.METADATA_FILE).read_text()) == {"epoch": 5}

    fresh = small_model(2)
    assert not np.array_equal(fresh.get_weights()[0], trained.get_weights()[0])
    assert backup.restore(fresh, tmp_path / "b") == 5
    for a, b in zip(fresh.get_weights(), trained.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert int(fresh.optimizer.iterations.numpy()) == int(trained.optimizer.iterations.numpy()) == 2

    callback.on_train_end()
    assert not (tmp_path / "b").exists()


def test_no_backup_means_epoch_zero_and_untouched_weights(tmp_path):
    model = small_model(3)
    before = model.get_weights()
    assert backup.restore(model, tmp_path / "none") == 0
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_other_workers_keep_their_backup_outside_the_bundle(tmp_path):
    assert backup.backup_dir(tmp_path, True, "worker:0") == tmp_path / "keras" / "backup"
    other = backup.backup_dir(tmp_path, False, "worker:1")
    assert tmp_path not in other.parents and other.name.endswith("-worker-1")
