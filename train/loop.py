"""The training loop, written once for every recipe: data → model → fit → bundle files."""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from edgeport.runtime.manifest import atomic_write_bytes
from edgeport.train import data as datasets
from edgeport.train.distribute import AtomicBackupAndRestore, Placement, array_dataset, choose_strategy, describe, prepare_model, split_for_validation
from edgeport.train.models import build_image_model, build_text_model, mobilenet_weights_name, resolve_base_weights
from edgeport.train.recipes import INDEX_FROM, OOV_CHAR, START_CHAR, TEXT_FILTERS, ImageRecipe, TextRecipe

TASK_FILE = "task.json"


@dataclass
class TaskData:
    """Model-ready arrays plus what the bundle needs to preprocess raw input the same way."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray  # class indices
    labels: list[str]
    preprocessing: dict[str, Any]
    vocabulary: dict[str, int] | None = None
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


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
    recipe: ImageRecipe, data_dir: str | os.PathLike | None, seed: int, shard: tuple[int, int] = (0, 1)
) -> TaskData:
    """Decode the folder's images; with `shard=(i, n)` only worker i's share of the training files."""
    folder = datasets.list_image_folder(datasets.find_image_folder(data_dir))
    train_idx, test_idx = datasets.stratified_split(folder.labels, recipe.test_fraction, seed)
    if shard[1] > 1:
        train_idx = datasets.shard_indices(train_idx, *shard)

    def pixels(indices: np.ndarray) -> np.ndarray:
        raw = datasets.load_images([folder.paths[i] for i in indices], recipe.image_size, recipe.interpolation)
        return keras.applications.mobilenet.preprocess_input(raw)

    root = folder.paths[0].parent.parent
    return TaskData(
        x_train=pixels(train_idx),
        y_train=folder.labels[train_idx],
        x_test=pixels(test_idx),
        y_test=folder.labels[test_idx],
        labels=folder.class_names,
        preprocessing=image_preprocessing(recipe),
        source=str(root),
        extra={"test_files": [str(folder.paths[i].relative_to(root)) for i in test_idx]},
    )


def load_task_data(
    recipe: TextRecipe | ImageRecipe, data_dir: str | os.PathLike | None, seed: int = 0, shard: tuple[int, int] = (0, 1)
) -> TaskData:
    """The arrays a recipe trains and is tested on (deterministic for a given seed). Image folders can be
    sharded by file (each worker decodes only its share); text arrays are small and read whole."""
    if isinstance(recipe, TextRecipe):
        return load_text_data(recipe, data_dir)
    return load_image_data(recipe, data_dir, seed, shard)


def build_model(recipe: TextRecipe | ImageRecipe, task_data: TaskData, data_dir: str | os.PathLike | None) -> keras.Model:
    if isinstance(recipe, TextRecipe):
        return build_text_model(recipe)
    weights = resolve_base_weights(recipe.base_weights, recipe.alpha, recipe.image_size, data_dir)
    name = mobilenet_weights_name(recipe.alpha, recipe.image_size) if weights == "imagenet" else ""
    message = (
        f"ImageNet weights {name} not found: put the file into DATA_DIR/weights/ (with --data-dir DATA_DIR "
        f"or ${datasets.DATA_DIR_ENV}) or into {datasets.keras_cache_dir('models')}, or train with --base-weights none"
    )
    return datasets.download_or_explain(lambda: build_image_model(recipe, len(task_data.labels), weights), message)


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


def backup_dir(out: Path, placement: Placement) -> Path:
    """Where `BackupAndRestore` keeps the last epoch: inside the bundle for the chief, outside it for
    other workers (each worker restores its own copy)."""
    if placement.is_chief:
        return out / "keras" / "backup"
    tag = f"{out.resolve()}".replace(os.sep, "_").strip("_")
    return Path(tempfile.gettempdir()) / "edgeport-backup" / f"{tag}-{placement.task.replace(':', '-')}"


def finished_epochs(directory: Path) -> int:
    """How many epochs the backup holds: a restarted run resumes after them (0 when there is none)."""
    metadata = directory / "training_metadata.json"
    return int(json.loads(metadata.read_text())["epoch"]) if metadata.is_file() else 0


def train_task(
    recipe: TextRecipe | ImageRecipe,
    out_dir: str | os.PathLike,
    data_dir: str | os.PathLike | None = None,
    seed: int = 0,
    verbose: int | str = "auto",
    strategy: str = "default",
) -> TrainResult:
    """Train one recipe and write `keras/model.keras`, `keras/metrics.json`, `keras/task.json` and
    `vocab.json` or `labels.json` under `out_dir` (on the chief only).

    A run killed part-way resumes from its last finished epoch when started again with the same command.
    """
    placement = choose_strategy(strategy)  # first: multi-worker must exist before other TensorFlow work
    keras.utils.set_random_seed(seed)
    started = time.perf_counter()
    out = Path(out_dir)
    by_file = isinstance(recipe, ImageRecipe) and placement.workers > 1
    shard = (placement.worker_index, placement.workers) if by_file else (0, 1)
    task_data = load_task_data(recipe, data_dir, seed, shard)
    with placement.strategy.scope():
        model = build_model(recipe, task_data, data_dir)
    n = len(task_data.labels)
    y_train, y_test = targets(recipe, task_data.y_train, n), targets(recipe, task_data.y_test, n)
    validation_split = recipe.validation_split if isinstance(recipe, TextRecipe) else recipe.validation_fraction
    cut = split_for_validation(len(y_train), validation_split)
    batch = recipe.batch_size
    policy = "FILE" if by_file else "DATA"
    train_data = array_dataset(task_data.x_train[:cut], y_train[:cut], batch, seed, already_sharded=by_file)
    validation = array_dataset(task_data.x_train[cut:], y_train[cut:], batch, None, by_file) if cut < len(y_train) else None
    test_data = array_dataset(task_data.x_test, y_test, batch, None)
    prepare_model(model, placement, train_data)
    backup = backup_dir(out, placement)
    first_epoch = finished_epochs(backup)
    if first_epoch:
        print(f"{recipe.task}: restored from backup in {backup}: resuming at epoch {first_epoch + 1}", flush=True)
    history = model.fit(
        train_data,
        validation_data=validation,
        shuffle=False,  # the tf.data pipeline shuffles, seeded
        epochs=recipe.epochs,
        callbacks=[TestSetEvaluation(test_data), AtomicBackupAndRestore(str(backup))],
        verbose=verbose,
    )
    test_loss, test_accuracy = model.evaluate(test_data, verbose=0)
    wall = time.perf_counter() - started
    metrics = {
        "task": recipe.task,
        "test_accuracy": float(test_accuracy),
        "test_loss": float(test_loss),
        "epochs": {k: [float(v) for v in vs] for k, vs in history.history.items()},
        "first_epoch": first_epoch + 1,
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
        **task_data.extra,
    }
    model_path = write_outputs(out, model, recipe, task_data, metrics) if placement.is_chief else None
    return TrainResult(model_path, metrics)


def write_outputs(out: Path, model: keras.Model, recipe: TextRecipe | ImageRecipe, task_data: TaskData, metrics: dict) -> Path:
    """Write the model and its companions atomically; the model last but one, task.json last."""
    keras_dir = out / "keras"
    keras_dir.mkdir(parents=True, exist_ok=True)
    if task_data.vocabulary is not None:
        atomic_write_bytes(out / "vocab.json", json.dumps(task_data.vocabulary, ensure_ascii=False).encode())
    atomic_write_bytes(out / "labels.json", json.dumps(task_data.labels).encode())
    atomic_write_bytes(keras_dir / "metrics.json", (json.dumps(metrics, indent=2) + "\n").encode())
    from edgeport.train.agreement import write_agreement
    write_agreement(keras_dir, task_data, isinstance(recipe, ImageRecipe))
    model_path = keras_dir / "model.keras"
    tmp = keras_dir / ".model.tmp.keras"
    model.save(tmp)
    os.replace(tmp, model_path)
    task = {
        "task": recipe.task,
        "kind": recipe.kind,
        "labels": task_data.labels,
        "preprocessing": task_data.preprocessing,
        "recipe": asdict(recipe),
        "seed": metrics["seed"],
    }
    atomic_write_bytes(keras_dir / TASK_FILE, (json.dumps(task, indent=2) + "\n").encode())
    return model_path
