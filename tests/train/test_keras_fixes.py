"""The multi-worker Keras workarounds: refused on another Keras release, undone once training ends."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import keras
import pytest

from tests.train.conftest import write_text_datasets
from edgeport.train import keras_fixes

ROOT = Path(__file__).resolve().parents[2]

# Trains through `train_task` as a one-worker multi-worker cluster (a strategy must be the process's
# first TensorFlow work, hence a process of its own) and reports what the patched attributes were
# inside the fixes and after training.
SCRIPT = """
import contextlib, json, sys
from keras.src.backend.tensorflow import trainer
from edgeport.train import loop
from edgeport.train.recipes import RECIPES

keras_reduce = trainer.reduce_per_replica
seen = {}
real_fixes = loop.multi_worker_fixes

@contextlib.contextmanager
def watched(model, strategy, sample):
    with real_fixes(model, strategy, sample):
        seen["patched_inside"] = trainer.reduce_per_replica is not keras_reduce and "_maybe_symbolic_build" in vars(model)
        yield
    seen["model"] = model

loop.multi_worker_fixes = watched
result = loop.train_task(RECIPES["imdb"].with_overrides(epochs=2), sys.argv[1], data_dir=sys.argv[2], strategy="multi-worker")
model = seen.pop("model")
seen["reduce_restored"] = trainer.reduce_per_replica is keras_reduce
seen["model_restored"] = "_maybe_symbolic_build" not in vars(model)
seen["epochs"] = len(result.metrics["epochs"]["loss"])
print(json.dumps(seen))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_patches_are_undone_after_training(tmp_path):
    data_dir = write_text_datasets(tmp_path / "data", n=200)
    config = {"cluster": {"worker": [f"127.0.0.1:{free_port()}"]}, "task": {"type": "worker", "index": 0}}
    env = {k: v for k, v in os.environ.items() if k != "EDGEPORT_DATA_DIR"}
    env.update(TF_CONFIG=json.dumps(config), TF_CPP_MIN_LOG_LEVEL="2")
    cmd = [sys.executable, "-c", SCRIPT, str(tmp_path / "out"), str(data_dir)]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {"patched_inside": True, "reduce_restored": True, "model_restored": True, "epochs": 2}


def test_another_keras_release_is_refused_with_the_supported_one_named(monkeypatch):
    from keras.src.backend.tensorflow import trainer

    keras_reduce = trainer.reduce_per_replica
    monkeypatch.setattr(keras, "__version__", "3.16.0")
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    with pytest.raises(keras_fixes.KerasVersionError) as raised:
        with keras_fixes.multi_worker_fixes(model, None, None):
            pass
    message = str(raised.value)
    assert f"Keras {keras_fixes.KERAS_VERSION} internals" in message and "Keras 3.16.0 is installed" in message
    assert f"keras=={keras_fixes.KERAS_VERSION}" in message and "--strategy default" in message
    assert trainer.reduce_per_replica is keras_reduce and "_maybe_symbolic_build" not in vars(model)


def test_the_supported_release_is_the_one_pyproject_pins():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'"keras=={keras_fixes.KERAS_VERSION}"' in pyproject
