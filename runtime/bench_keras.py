"""The Keras baseline of `runtime.bench`, measured in a fresh process (workstation only).

Importing this module imports no TensorFlow: `keras_baseline` starts this file as a script in a new
interpreter, which imports Keras, loads `keras/model.keras`, predicts once (its cold start and peak
resident memory), then times `model(x, training=False)` and `model.predict(x)` on the very batches the
runtime was timed on. Skipped, with the reason, where TensorFlow or the Keras model is missing.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Mapping

MAX_TIME_S = 10.0  # per timed call kind and batch size: Keras' predict() is slow; at least 10 samples
KERAS_MODEL = "keras/model.keras"


def unavailable(bundle: str | os.PathLike, source: Mapping[str, Any] | None = None) -> str | None:
    """Why there can be no Keras baseline here, or None when there can."""
    if importlib.util.find_spec("tensorflow") is None or importlib.util.find_spec("keras") is None:
        return "TensorFlow/Keras are not installed (device environment)"
    path = keras_model_path(bundle, source)
    if not path.is_file():
        return f"no Keras model at {path} (bundles copied to a device leave it behind)"
    return None


def keras_model_path(bundle: str | os.PathLike, source: Mapping[str, Any] | None = None) -> Path:
    return Path(bundle) / str((source or {}).get("file") or KERAS_MODEL)


def keras_baseline(bundle: str | os.PathLike, batches: Mapping[int, Any], threads: int, repeats: int,
                   warmup: int, source: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Cold start, peak RSS and warm latencies of the bundle's Keras model on `batches` (size → array)."""
    import numpy as np

    from runtime.bench_timing import run_child

    reason = unavailable(bundle, source)
    if reason:
        return {"available": False, "reason": reason}
    with tempfile.TemporaryDirectory(prefix="edgeport-bench-") as work:
        inputs = Path(work) / "inputs.npz"
        np.savez(inputs, **{f"b{size}": x for size, x in batches.items()})
        try:
            result = run_child([sys.executable, str(Path(__file__).resolve()), str(keras_model_path(bundle, source)),
                                str(inputs), str(threads), str(repeats), str(warmup)], timeout=900)
        except Exception as exc:  # noqa: BLE001 — a failed baseline is reported, not fatal
            return {"available": False, "reason": f"the Keras process failed: {exc}"}
    return {"available": True, "threads": threads, **result}


def _child(model_path: str, inputs_path: str, threads: int, repeats: int, warmup: int, t0: float) -> dict[str, Any]:
    import time

    import keras
    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    t1 = time.perf_counter()
    model = keras.models.load_model(model_path, compile=False)
    t2 = time.perf_counter()
    data = np.load(inputs_path)
    batches = {int(key[1:]): data[key] for key in data.files}
    first = batches[min(batches)][:1]
    t3 = time.perf_counter()
    model(first, training=False)
    t4 = time.perf_counter()
    from runtime.bench_timing import peak_rss, summarize

    cold = {"import_s": t1 - t0, "load_s": t2 - t1, "first_prediction_s": t4 - t3, "seconds": (t2 - t0) + (t4 - t3),
            **peak_rss(), "pid": os.getpid()}

    def time_calls(call) -> dict[str, float]:
        for _ in range(max(warmup, 1)):
            call()
        samples, started = [], time.perf_counter()
        while len(samples) < repeats and (len(samples) < 10 or time.perf_counter() - started < MAX_TIME_S):
            t = time.perf_counter_ns()
            call()
            samples.append(time.perf_counter_ns() - t)
        return summarize(samples)

    runs = []
    for size, x in sorted(batches.items()):
        runs.append({"batch": size, "call_ms": time_calls(lambda: model(x, training=False)),
                     "predict_ms": time_calls(lambda: model.predict(x, batch_size=size, verbose=0))})
    return {"cold_start": cold, "runs": runs, "tensorflow": tf.__version__, "keras": keras.__version__}


if __name__ == "__main__":
    import time

    started = time.perf_counter()  # before numpy and Keras are imported: the cold start counts them
    import json

    sys.path[0] = str(Path(__file__).resolve().parents[1])  # the repository, not runtime/ (its names would shadow)
    args = sys.argv[1:]
    print(json.dumps(_child(args[0], args[1], int(args[2]), int(args[3]), int(args[4]), started)))
