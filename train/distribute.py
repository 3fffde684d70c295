"""Scale-out through TensorFlow's own `tf.distribute`: strategy choice, sharded `tf.data` input, chief role.

The cluster is described the standard way, by `TF_CONFIG`; edgeport adds no layer of its own.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from edgeport.runtime.manifest import atomic_write_bytes

STRATEGIES = ("auto", "default", "mirrored", "multi-worker")


class ClusterConfigError(ValueError):
    """The strategy asked for, or the cluster `TF_CONFIG` describes, cannot be used as given."""


@dataclass(frozen=True)
class Placement:
    """Which strategy runs, over how many workers and replicas, and whether this process is the chief."""

    strategy: tf.distribute.Strategy
    name: str
    workers: int
    replicas: int
    is_chief: bool
    task: str  # "worker:1", or "local"
    worker_index: int = 0  # this worker's place among all workers (the chief first)


def cluster_spec() -> dict:
    """`TF_CONFIG` parsed (an empty dict when unset); a malformed value is a clear error."""
    raw = os.environ.get("TF_CONFIG", "")
    if not raw:
        return {}
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ClusterConfigError(f"TF_CONFIG is not valid JSON ({exc}); see README, 'Training on several machines'") from None
    if not isinstance(config, dict) or "cluster" not in config or "task" not in config:
        raise ClusterConfigError("TF_CONFIG must hold 'cluster' and 'task'; see README, 'Training on several machines'")
    return config


def worker_count(config: dict) -> int:
    cluster = config.get("cluster", {})
    return len(cluster.get("chief", [])) + len(cluster.get("worker", []))


def use_logical_cpus(count: int) -> None:
    """Split the CPU into `count` logical devices (lets `mirrored` run several replicas on one CPU)."""
    cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * count)


def choose_strategy(name: str = "auto") -> Placement:
    """`auto`: multi-worker when `TF_CONFIG` names more than one worker, mirrored with several GPUs,
    else the default strategy. Create it before any other TensorFlow work (multi-worker requires it)."""
    if name not in STRATEGIES:
        raise ClusterConfigError(f"unknown strategy {name!r}; use one of {', '.join(STRATEGIES)}")
    config = cluster_spec()
    if name == "auto":
        gpus = tf.config.list_physical_devices("GPU")
        name = "multi-worker" if worker_count(config) > 1 else "mirrored" if len(gpus) > 1 else "default"
    if name == "multi-worker":
        if not config:
            raise ClusterConfigError("--strategy multi-worker needs TF_CONFIG describing the cluster; see README")
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        task = config["task"]
        has_chief = bool(config["cluster"].get("chief"))
        index = 0 if task.get("type") == "chief" else int(task.get("index", 0)) + int(has_chief)
        is_chief = index == 0
        label = f"{task.get('type')}:{task.get('index')}"
        return Placement(strategy, name, worker_count(config), strategy.num_replicas_in_sync, is_chief, label, index)
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        strategy = tf.distribute.MirroredStrategy(devices=devices)
    else:
        strategy = tf.distribute.get_strategy()
    return Placement(strategy, name, 1, strategy.num_replicas_in_sync, True, "local")


def prepare_model(model, placement: Placement, sample: tf.data.Dataset) -> None:
    """Work around Keras 3's two failures under `MultiWorkerMirroredStrategy` (keras-team/keras#20585).

    1. `fit` builds metrics and losses from a first batch that it reduces across replicas, which fails:
       build them here from a plain, undistributed batch and let `fit` skip that step.
    2. Each step's logs (scalars) are reduced with `reduce("MEAN", axis=0)`, which fails on scalars:
       average them across replicas element-wise instead (`axis=None`), as Keras does for one worker.
    """
    if placement.name != "multi-worker":
        return
    x, y = next(iter(sample.take(1)))
    with placement.strategy.scope():
        model._symbolic_build(data_batch=(x, y, None))
    model._maybe_symbolic_build = lambda *args, **kwargs: None
    _average_logs_across_workers()


def _average_logs_across_workers() -> None:
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer

    if getattr(trainer.reduce_per_replica, "edgeport_patched", False):
        return
    keras_reduce = trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction="auto"):
        if reduction in ("auto", "mean") and trainer._collective_all_reduce_multi_worker(strategy):
            return tree.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
        return keras_reduce(values, strategy, reduction)

    reduce_per_replica.edgeport_patched = True
    trainer.reduce_per_replica = reduce_per_replica


def split_for_validation(n: int, validation_split: float) -> int:
    """The index where Keras' `validation_split` cuts (the last fraction is validation, unshuffled)."""
    return int(math.ceil(n * (1.0 - validation_split))) if validation_split else n


def array_dataset(
    x: np.ndarray, y: np.ndarray, global_batch: int, shuffle_seed: int | None, already_sharded: bool = False
) -> tf.data.Dataset:
    """Arrays as a `tf.data` pipeline. Sharding: DATA (each worker takes its part of every batch) for
    arrays every worker holds whole; OFF for arrays already cut by file, one share per worker."""
    dataset = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(x), seed=shuffle_seed, reshuffle_each_iteration=True)
    policy = tf.data.experimental.AutoShardPolicy
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = policy.OFF if already_sharded else policy.DATA
    return dataset.batch(global_batch).prefetch(tf.data.AUTOTUNE).with_options(options)


def describe(placement: Placement, global_batch: int) -> str:
    per_replica = global_batch / placement.replicas
    return (
        f"strategy {placement.name}, {placement.workers} worker(s), {placement.replicas} replica(s), "
        f"global batch {global_batch} ({per_replica:g} per replica)"
    )


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` whose files are replaced atomically: a run killed while saving leaves the last
    complete backup (Keras overwrites its files in place, and a half-written one stops the restart)."""

    def _save_model(self) -> None:
        os.makedirs(self.backup_dir, exist_ok=True)
        partial = os.path.join(self.backup_dir, ".partial.weights.h5")
        self.model.save_weights(partial, overwrite=True)
        os.replace(partial, self._weights_path)
        state = {"epoch": self._current_epoch, "batch": self._last_batch_seen}
        atomic_write_bytes(self._training_metadata_path, json.dumps(state).encode())
