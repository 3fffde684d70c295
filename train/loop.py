"""The training loop, written once for every recipe: data → model → fit → bundle files."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from edgeport.runtime.atomic_files import atomic_output, atomic_write_bytes
from edgeport.runtime.manifest import MANIFEST_NAME
from edgeport.runtime.staging import staged_bundle
from edgeport.train import data as datasets
from edgeport.train import backup, baseline, schedule
from edgeport.train.distribute import array_dataset, choose_strategy, describe, split_for_validation
from edgeport.train.images import ImageFiles, image_dataset, reading_error
from edgeport.train.keras_fixes import multi_worker_fixes
from edgeport.train.int8_grid import int8_ready
from edgeport.train.models import (
    build_image_model, build_text_model, compile_image_model, download_imagenet_weights, resolve_base_weights,
)
from edgeport.train.recipes import INDEX_FROM, OOV_CHAR, START_CHAR, TEXT_FILTERS, ImageRecipe, TextRecipe
from edgeport.train.samples import write_samples
from edgeport.train.task_data import TaskData, UserData
from edgeport.train.user_texts import load_user_texts

TASK_FILE = "task.json"


def text_preprocessing(recipe: TextRecipe, num_words: int) -> dict[str, Any]:
    return {
        "type": "text",
        "vocabulary": "vocab.json",
        "num_words": num_words,
        "skip_top": 0,
        "start_char": START_CHAR,
        "oov_char": OOV_CHAR,
        "index_from": INDEX_FROM,
        "maxlen": recipe.maxlen,
        "padding": "pre",
        "truncating": recipe.truncating,
        "lowercase": True,
        "filters": TEXT_FILTERS,
        "split": " ",
    }


def image_preprocessing(recipe: ImageRecipe) -> dict[str, Any]:
    size = [recipe.image_size, recipe.image_size]
    return {"type": "image", "size": size, "interpolation": recipe.interpolation, "color_mode": "rgb", "normalization": "mobilenet"}


def load_text_data(recipe: TextRecipe, data_dir: str | os.PathLike | None) -> TaskData:
    loader = {"imdb": datasets.load_imdb, "reuters": datasets.load_reuters}[recipe.dataset]
    splits = loader(recipe.num_words, data_dir)

    def pad(xs: list[list[int]]) -> np.ndarray:
        return keras.utils.pad_sequences(xs, maxlen=recipe.maxlen, padding="pre", truncating=recipe.truncating, dtype="int32")

    labels = list(recipe.labels) or list(keras.datasets.reuters.get_label_names())
    word_index = datasets.load_word_index(recipe.dataset, data_dir)
    return TaskData(
        x_train=pad(splits.x_train),
        y_train=np.asarray(splits.y_train, dtype=np.int64),
        x_test=pad(splits.x_test),
        y_test=np.asarray(splits.y_test, dtype=np.int64),
        labels=labels,
        preprocessing=text_preprocessing(recipe, recipe.num_words),
        vocabulary=datasets.vocabulary(word_index, splits.num_words),
        source=splits.source,
        extra={"vocabulary_in_data": splits.num_words},
    )


def load_image_data(
    recipe: ImageRecipe, data_dir: str | os.PathLike | None, seed: int, shard: tuple[int, int] = (0, 1),
    user: UserData | None = None,
) -> TaskData:
    """List the folder's images (decoded later, as they stream); with `shard=(i, n)` only worker i's share of
    the training files. `user.test`, when given, is the test folder (same class names)."""
    folder = datasets.list_image_folder(user.train if user else datasets.find_image_folder(data_dir))
    if user is not None and user.test is not None:
        test_folder = datasets.list_image_folder(user.test)
        if test_folder.class_names != folder.class_names:
            raise datasets.DataError(
                f"the test folder {user.test} has classes {', '.join(test_folder.class_names)} but the training folder "
                f"{user.train} has {', '.join(folder.class_names)}; give both the same class sub-folders"
            )
        train_idx = np.arange(len(folder.paths))
        test_paths, y_test = test_folder.paths, test_folder.labels
    else:
        train_idx, test_idx = datasets.stratified_split(folder.labels, recipe.test_fraction, seed)
        test_paths, y_test = [folder.paths[i] for i in test_idx], folder.labels[test_idx]
    if shard[1] > 1:
        train_idx = datasets.shard_indices(train_idx, *shard)

    def files(paths: list[Path]) -> ImageFiles:
        return ImageFiles(tuple(str(p) for p in paths), recipe.image_size, recipe.interpolation)

    root = folder.paths[0].parent.parent
    test_root = test_paths[0].parent.parent
    return TaskData(
        x_train=files([folder.paths[i] for i in train_idx]),
        y_train=folder.labels[train_idx],
        x_test=files(test_paths),
        y_test=y_test,
        labels=folder.class_names,
        preprocessing=image_preprocessing(recipe),
        source=str(root),
        extra={"test_files": [str(p.relative_to(test_root)) for p in test_paths]},
    )


def load_task_data(
    recipe: TextRecipe | ImageRecipe, data_dir: str | os.PathLike | None, seed: int = 0, shard: tuple[int, int] = (0, 1),
    user: UserData | None = None,
) -> TaskData:
    """What a recipe trains and is tested on (deterministic for a given seed). Images are listed, not
    decoded, and can be sharded by file (each worker reads only its share); text arrays are read whole."""
    if isinstance(recipe, TextRecipe):
        if recipe.dataset == "files":
            if user is None:
                raise datasets.DataError("the text task reads your own files: pass --data PATH")
            return load_user_texts(recipe, user, seed)
        return load_text_data(recipe, data_dir)
    return load_image_data(recipe, data_dir, seed, shard, user)


def input_dataset(x: np.ndarray | ImageFiles, y: np.ndarray, global_batch: int, seed: int | None, sharded: bool = False) -> tf.data.Dataset:
    """Arrays as they are; image files decoded as they stream."""
    if isinstance(x, ImageFiles):
        return image_dataset(x, y, global_batch, seed, sharded)
    return array_dataset(x, y, global_batch, seed, sharded)


def build_model(recipe: TextRecipe | ImageRecipe, task_data: TaskData, data_dir: str | os.PathLike | None) -> keras.Model:
    if isinstance(recipe, TextRecipe):
        return build_text_model(recipe, task_data.preprocessing.get("num_words"))
    weights = resolve_base_weights(recipe.base_weights, recipe.alpha, recipe.image_size, data_dir)
    if weights == "imagenet":
        weights = download_imagenet_weights(recipe.alpha, recipe.image_size)
    return build_image_model(recipe, len(task_data.labels), weights)


class TestSetEvaluation(keras.callbacks.Callback):
    """Adds `test_loss` and `test_accuracy` to each epoch's logs (evaluation only; no effect on training)."""

    def __init__(self, test_data: tf.data.Dataset):
        super().__init__()
        self.test_data = test_data

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        loss, accuracy = self.model.evaluate(self.test_data, verbose=0)
        if logs is not None:
            logs["test_loss"], logs["test_accuracy"] = float(loss), float(accuracy)


def targets(recipe: TextRecipe | ImageRecipe, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Labels in the form the recipe's loss expects."""
    if isinstance(recipe, ImageRecipe):
        return keras.utils.to_categorical(labels, num_classes).astype(np.float32)
    return labels.astype(np.float32) if recipe.num_classes == 2 else labels


@dataclass
class TrainResult:
    model_path: Path | None  # None on a worker that is not the chief: it writes nothing
    metrics: dict[str, Any]


def fit_verbosity(verbose: int | str, stream=None) -> int | str:
    """Keras' progress bar on a terminal; one line per epoch (`verbose=2`) into a log or a pipe."""
    if verbose != "auto":
        return verbose
    stream = stream or sys.stdout
    return 1 if stream.isatty() else 2


def train_task(
    recipe: TextRecipe | ImageRecipe,
    out_dir: str | os.PathLike,
    data_dir: str | os.PathLike | None = None,
    seed: int = 0,
    verbose: int | str = "auto",
    strategy: str = "default",
    deterministic: bool = True,
    user: UserData | None = None,
) -> TrainResult:
    """Train one recipe and write `keras/model.keras`, `keras/metrics.json`, `keras/task.json`,
    `keras/test.npz`, `keras/calibration.npz` and `vocab.json` or `labels.json` under `out_dir` (on the
    chief only). `user` names the user's own files (tasks `text` and `image`).

    A run killed part-way resumes from its last finished epoch when started again with the same command.
    The same seed gives the same weights: `deterministic` makes TensorFlow choose deterministic kernels
    (`tf.config.experimental.enable_op_determinism`, for the whole process; see README for its cost).
    """
    placement = choose_strategy(strategy)  # first: multi-worker must exist before other TensorFlow work
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    started = time.perf_counter()
    out = Path(out_dir)
    by_file = isinstance(recipe, ImageRecipe) and placement.workers > 1
    shard = (placement.worker_index, placement.workers) if by_file else (0, 1)
    task_data = load_task_data(recipe, data_dir, seed, shard, user)
    if isinstance(recipe, TextRecipe) and recipe.dataset == "files":
        recipe = recipe.with_overrides(num_classes=len(task_data.labels))
    with placement.strategy.scope():
        model = build_model(recipe, task_data, data_dir)
    n = len(task_data.labels)
    y_train, y_test = targets(recipe, task_data.y_train, n), targets(recipe, task_data.y_test, n)
    validation_split = recipe.validation_split if isinstance(recipe, TextRecipe) else recipe.validation_fraction
    cut = split_for_validation(len(y_train), validation_split)
    batch = recipe.batch_size
    policy = "FILE" if by_file else "DATA"
    train_data = input_dataset(task_data.x_train[:cut], y_train[:cut], batch, seed, sharded=by_file)
    validation = input_dataset(task_data.x_train[cut:], y_train[cut:], batch, None, by_file) if cut < len(y_train) else None
    test_data = input_dataset(task_data.x_test, y_test, batch, None)
    fixes = worker_fixes(model, placement, train_data)
    backup_dir = backup.backup_dir(out, placement.is_chief, placement.task)
    plan = schedule.plan(recipe.epochs, recipe.min_steps, recipe.patience, cut, batch, validation is not None)
    stopper = schedule.callbacks(plan)
    weights = baseline.class_weights(task_data.y_train[:cut], n) if recipe.class_weighting else None
    try:
        with fixes:
            with placement.strategy.scope():
                first_epoch = backup.restore(model, backup_dir)
            if first_epoch:
                print(f"{recipe.task}: restored from backup in {backup_dir}: resuming at epoch {first_epoch + 1}", flush=True)
            history = model.fit(
                train_data,
                validation_data=validation,
                shuffle=False,  # the tf.data pipeline shuffles, seeded
                epochs=plan.epochs,
                initial_epoch=first_epoch,
                class_weight=weights,
                callbacks=[TestSetEvaluation(test_data), *stopper, backup.EpochBackup(backup_dir)],
                verbose=fit_verbosity(verbose),
            )
            test_loss, test_accuracy = model.evaluate(test_data, verbose=0)
        int8_grid = {}
        if isinstance(recipe, ImageRecipe) and recipe.int8_refit_epochs:
            int8_grid = {"float_test_accuracy": float(test_accuracy), "head_refit_epochs": recipe.int8_refit_epochs}
            refit = HeadRefit(recipe, placement, train_data, test_data, fit_verbosity(verbose))
            int8_ready(model, refit, refit.compile)
            with worker_fixes(model, placement, train_data):
                test_loss, test_accuracy = model.evaluate(test_data, verbose=0)
            int8_grid["grid_body_test_accuracy"] = refit.body_on_grid_accuracy
        with worker_fixes(model, placement, train_data):
            predicted = predicted_classes(model.predict(test_data, verbose=0))
    except tf.errors.OpError as exc:  # an image file that cannot be read, met while streaming
        raise (reading_error(exc) or exc) from None
    wall = time.perf_counter() - started
    metrics = {
        "task": recipe.task,
        "test_accuracy": float(test_accuracy),
        "test_loss": float(test_loss),
        "epochs": {k: [float(v) for v in vs] for k, vs in history.history.items()},
        "first_epoch": first_epoch + 1,
        "schedule": schedule.outcome(plan, history.history, stopper),
        "class_weight": {task_data.labels[i]: w for i, w in weights.items()} if weights else None,
        **baseline.compare(task_data.y_train[:cut], task_data.y_test, predicted, task_data.labels),
        "train_samples": int(cut),
        "test_samples": int(len(task_data.x_test)),
        "wall_time_s": round(wall, 2),
        "seed": seed,
        "distribution": {
            "strategy": placement.name,
            "workers": placement.workers,
            "replicas": placement.replicas,
            "input_sharding": policy,
        },
        "summary": describe(placement, batch),
        "data_source": task_data.source,
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__, "python": platform.python_version()},
        "recipe": asdict(recipe),
        **({"int8_grid": int8_grid} if int8_grid else {}),
        **task_data.extra,
    }
    model_path = write_outputs(out, model, recipe, task_data, metrics) if placement.is_chief else None
    return TrainResult(model_path, metrics)


def predicted_classes(probabilities: np.ndarray) -> np.ndarray:
    """Class indices from a softmax, or from one sigmoid output (0.5 threshold, as Keras' accuracy)."""
    p = np.asarray(probabilities)
    return (p.reshape(-1) > 0.5).astype(np.int64) if p.ndim == 1 or p.shape[-1] == 1 else p.argmax(axis=-1)


def worker_fixes(model: keras.Model, placement: Any, train_data: tf.data.Dataset) -> contextlib.AbstractContextManager:
    """Keras' multi-worker workarounds around `fit` and `evaluate` (`keras_fixes`); nothing for one worker."""
    if placement.name == "multi-worker":
        return multi_worker_fixes(model, placement.strategy, train_data)
    return contextlib.nullcontext()


class HeadRefit:
    """The dense head's second training, on a body whose kernels are on their int8 grid (`int8_ready`)."""

    def __init__(self, recipe: ImageRecipe, placement: Any, train_data: tf.data.Dataset, test_data: tf.data.Dataset,
                 verbose: int | str):
        self.recipe, self.placement, self.verbose = recipe, placement, verbose
        self.train_data, self.test_data = train_data, test_data
        self.body_on_grid_accuracy: float | None = None

    def compile(self, model: keras.Model) -> None:
        with self.placement.strategy.scope():
            compile_image_model(model, self.recipe)

    def __call__(self, model: keras.Model) -> None:
        with worker_fixes(model, self.placement, self.train_data):
            self.body_on_grid_accuracy = float(model.evaluate(self.test_data, verbose=0)[1])
            model.fit(self.train_data, shuffle=False, epochs=self.recipe.int8_refit_epochs, verbose=self.verbose)


def write_outputs(out: Path, model: keras.Model, recipe: TextRecipe | ImageRecipe, task_data: TaskData, metrics: dict) -> Path:
    """Write the model and its companions into a staging copy of `out` (less an earlier export's
    manifest.json, which no longer describes this model), then swap it in whole (`runtime.staging`)."""
    with staged_bundle(out, keep=lambda rel: rel != MANIFEST_NAME) as stage:
        _write_outputs(stage, model, recipe, task_data, metrics)
    return out / "keras" / "model.keras"


def _write_outputs(out: Path, model: keras.Model, recipe: TextRecipe | ImageRecipe, task_data: TaskData, metrics: dict) -> Path:
    """Write the model and its companions atomically (test.npz and calibration.npz: what export checks and
    calibrates with); the model last but one, task.json (which lists those files' hashes) last."""
    keras_dir = out / "keras"
    keras_dir.mkdir(parents=True, exist_ok=True)
    if task_data.vocabulary is not None:
        atomic_write_bytes(out / "vocab.json", json.dumps(task_data.vocabulary, ensure_ascii=False).encode())
    atomic_write_bytes(out / "labels.json", json.dumps(task_data.labels).encode())
    atomic_write_bytes(keras_dir / "metrics.json", (json.dumps(metrics, indent=2) + "\n").encode())
    data = write_samples(keras_dir, task_data.x_train, task_data.x_test, task_data.y_test, int(metrics.get("seed", 0)))
    model_path = keras_dir / "model.keras"
    with atomic_output(model_path) as tmp:
        model.save(tmp)
    task = {
        "task": recipe.task,
        "kind": recipe.kind,
        "labels": task_data.labels,
        "preprocessing": task_data.preprocessing,
        "recipe": asdict(recipe),
        "seed": metrics["seed"],
        "data": data,
    }
    if "baseline" in metrics:  # what export's report compares every variant with
        task["baseline"] = baseline.summary(metrics)
    atomic_write_bytes(keras_dir / TASK_FILE, (json.dumps(task, indent=2) + "\n").encode())
    return model_path
