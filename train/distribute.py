"""Scale-out through TensorFlow's own `tf.distribute`: strategy choice, sharded `tf.data` input, chief role.

The cluster is described the standard way, by `TF_CONFIG`; edgeport adds no layer of its own. The Keras
workarounds a multi-worker run needs are in `train.keras_fixes`.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

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
