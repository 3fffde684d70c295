"""Small models of the three tasks, trained for seconds on data made here, written as train writes them."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from edgeport.train.loop import image_preprocessing, text_preprocessing, write_outputs  # noqa: E402
from edgeport.train.task_data import TaskData  # noqa: E402
from edgeport.train.models import build_image_model, build_text_model  # noqa: E402
from edgeport.train.recipes import IMDB, PETS, REUTERS  # noqa: E402

CALIBRATION_SAMPLES = 64

# The lecture's architectures at a size that trains in seconds.
SMALL_RECIPES = {
    "imdb": IMDB.with_overrides(num_words=200, maxlen=10, epochs=12, batch_size=32),
    "reuters": REUTERS.with_overrides(num_words=80, maxlen=12, embedding_dim=16, head_units=16, num_classes=4, epochs=12,
                                      batch_size=32, learning_rate=1e-2, labels=("earn", "acq", "crude", "trade")),
    "pets": PETS.with_overrides(image_size=64, base_weights="none", dense_units=(32,), frozen_layers=0, epochs=6,
                                batch_size=16, learning_rate=1e-3),
}


def text_task(recipe, n_train: int = 600, n_test: int = 400, seed: int = 0) -> TaskData:
    """Token sequences whose class is told by a few class keywords among random filler words (5% of labels flipped)."""
    rng = np.random.default_rng(seed)
    classes = recipe.num_classes
    keywords = np.array_split(np.arange(4, 4 + 6 * classes), classes)

    def make(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, classes, n)
        x = rng.integers(4 + 6 * classes, recipe.num_words, (n, recipe.maxlen)).astype(np.int32)
        for i, c in enumerate(y):
            hits = rng.integers(2, 5)
            x[i, rng.choice(recipe.maxlen, hits, replace=False)] = rng.choice(keywords[c], hits)
        x[:, 0] = 1  # start mark, as Keras' loaders write it
        noisy = rng.random(n) < 0.05
        y[noisy] = (y[noisy] + 1) % classes
        return x, y.astype(np.int64)

    (x_train, y_train), (x_test, y_test) = make(n_train), make(n_test)
    labels = list(recipe.labels) or [f"class{i}" for i in range(classes)]
    vocabulary = {f"w{i}": i for i in range(3, recipe.num_words)}
    return TaskData(x_train, y_train, x_test, y_test, labels, text_preprocessing(recipe, recipe.num_words), vocabulary, "synthetic")


def image_task(recipe, n_train: int = 192, n_test: int = 200, seed: int = 0) -> TaskData:
    """Noisy images whose class is their dominant colour channel, preprocessed as MobileNet wants."""
    rng = np.random.default_rng(seed)
    size = recipe.image_size

    def make(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, 3, n)
        pixels = rng.uniform(0, 140, (n, size, size, 3)).astype(np.float32)
        pixels[np.arange(n), :, :, y] += rng.uniform(60, 115, (n, 1, 1)).astype(np.float32)
        return keras.applications.mobilenet.preprocess_input(pixels), y.astype(np.int64)

    (x_train, y_train), (x_test, y_test) = make(n_train), make(n_test)
    return TaskData(x_train, y_train, x_test, y_test, ["cats", "dogs", "horses"], image_preprocessing(recipe), None, "synthetic")


def he_initialise(model: keras.Model, seed: int) -> None:
    """Redraw every convolution kernel from N(0, 2 / fan_in) (He), depthwise ones with their true fan-in (3x3).

    Keras' default Glorot draw counts a depthwise kernel's fan-in over all channels: activations of a
    MobileNet with random weights then fade ~1000x per block, BatchNorm statistics at their initial values
    cannot restore them, and the model answers the same for every image. He-initialised, with BatchNorm
    frozen at identity (the recipe's `freeze_batchnorm`), it trains in seconds and stays well-conditioned.
    """
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
            kernel = layer.kernel
            depthwise = isinstance(layer, keras.layers.DepthwiseConv2D)
            fan_in = int(np.prod(kernel.shape[:2])) * (1 if depthwise else int(kernel.shape[2]))
            kernel.assign(rng.normal(0.0, np.sqrt(2.0 / fan_in), kernel.shape).astype("float32"))


def train_small(task: str, out: Path, seed: int = 0) -> tuple[Path, TaskData, keras.Model]:
    """Train the small model of `task` and write its bundle under `out` (keras/model.keras, task.json, ...)."""
    keras.utils.set_random_seed(seed)
    recipe = SMALL_RECIPES[task]
    if task == "pets":
        data = image_task(recipe, seed=seed)
        model = build_image_model(recipe, 3, None)
        he_initialise(model, seed)
        model.fit(data.x_train, keras.utils.to_categorical(data.y_train, 3), epochs=recipe.epochs, batch_size=recipe.batch_size, verbose=0)
    else:
        data = text_task(recipe, seed=seed)
        model = build_text_model(recipe)
        y = data.y_train.astype(np.float32) if recipe.num_classes == 2 else data.y_train
        model.fit(data.x_train, y, epochs=recipe.epochs, batch_size=recipe.batch_size, verbose=0)
    write_outputs(out, model, recipe, data, {"seed": seed})
    return out, data, model


@dataclass
class Exported:
    bundle: Path
    data: TaskData
    model: keras.Model
    result: object  # export.bundle.ExportResult


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    """`exported(task)`: the small model of `task`, trained and exported with all seven variants (once per session)."""
    from edgeport.export.bundle import export_bundle
    from edgeport.export.job import ExportOptions

    cache: dict[str, Exported] = {}

    def get(task: str) -> Exported:
        if task not in cache:
            bundle, data, model = train_small(task, tmp_path_factory.mktemp(task))
            result = export_bundle(bundle,
                                   ExportOptions(calibration_samples=CALIBRATION_SAMPLES, measure_latency=task == "imdb"), task_data=data)
            cache[task] = Exported(bundle, data, model, result)
        return cache[task]

    return get


@pytest.fixture(scope="session")
def _trained_imdb(tmp_path_factory):
    bundle, data, _ = train_small("imdb", tmp_path_factory.mktemp("trained") / "imdb")
    return bundle, data


@pytest.fixture
def small_imdb(_trained_imdb, tmp_path):
    """A trained, not yet exported small imdb bundle of this test's own: (bundle, data)."""
    bundle, data = _trained_imdb
    return Path(shutil.copytree(bundle, tmp_path / "imdb")), data
