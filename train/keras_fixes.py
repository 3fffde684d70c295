"""Workarounds for Keras internals under `MultiWorkerMirroredStrategy`, fenced in.

They touch private Keras code, so they are written for one Keras release (`KERAS_VERSION`, the one
pyproject pins) and refuse any other; they apply only to a multi-worker run, only inside
`multi_worker_fixes`, and are undone when it exits.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import keras
import tensorflow as tf

KERAS_VERSION = "3.15.1"  # the release whose internals the patches below were written against


class KerasVersionError(RuntimeError):
    """The installed Keras is not the release edgeport's multi-worker workarounds were written for."""


def require_keras_version(installed: str | None = None) -> None:
    installed = installed or keras.__version__
    if installed != KERAS_VERSION:
        raise KerasVersionError(
            f"--strategy multi-worker works around Keras {KERAS_VERSION} internals (keras-team/keras#20585); "
            f"Keras {installed} is installed: install keras=={KERAS_VERSION} (pip install -e '.[train]') "
            "or train with --strategy default or mirrored"
        )


@contextlib.contextmanager
def multi_worker_fixes(model: keras.Model, strategy: tf.distribute.Strategy, sample: tf.data.Dataset) -> Iterator[None]:
    """Keras 3.15's two failures under `MultiWorkerMirroredStrategy` (keras-team/keras#20585, open in
    3.15.1), worked around for the duration of the block (use it around `fit` and `evaluate`):

    1. `fit` builds metrics and losses from a first batch that it reduces across replicas, which fails:
       build them here from a plain, undistributed batch and let `fit` skip that step (on this model).
    2. Each step's logs (scalars) are reduced with `reduce("MEAN", axis=0)`, which fails on scalars:
       average them across replicas element-wise instead (`axis=None`), as Keras does for one worker.
    """
    require_keras_version()
    from keras.src.backend.tensorflow import trainer

    x, y = next(iter(sample.take(1)))
    with strategy.scope():
        model._symbolic_build(data_batch=(x, y, None))
    keras_reduce = trainer.reduce_per_replica
    had_own_build = "_maybe_symbolic_build" in vars(model)
    own_build = vars(model).get("_maybe_symbolic_build")
    model._maybe_symbolic_build = lambda *args, **kwargs: None
    trainer.reduce_per_replica = _elementwise_mean(keras_reduce, trainer._collective_all_reduce_multi_worker)
    try:
        yield
    finally:
        trainer.reduce_per_replica = keras_reduce
        if had_own_build:
            model._maybe_symbolic_build = own_build
        else:
            del model._maybe_symbolic_build


def _elementwise_mean(keras_reduce, is_multi_worker):
    from keras.src import tree

    def reduce_per_replica(values, strategy, reduction="auto"):
        if reduction in ("auto", "mean") and is_multi_worker(strategy):
            return tree.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
        return keras_reduce(values, strategy, reduction)

    return reduce_per_replica
