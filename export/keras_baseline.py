"""The measuring process of the bench's Keras baseline: `python -m edgeport.export.keras_baseline
MODEL INPUTS THREADS REPEATS WARMUP` prints one JSON line (cold start, peak memory, warm latencies of
`model(x, training=False)` and `model.predict(x)` on the batches in INPUTS). Started by
`edgeport.runtime.bench.keras`, which never imports TensorFlow itself.
"""

from __future__ import annotations

import os
import sys
from typing import Any

MAX_TIME_S = 10.0  # per timed call kind and batch size: Keras' predict() is slow; at least 10 samples


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
    from edgeport.runtime.measure.timing import peak_rss, summarize

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

    args = sys.argv[1:]
    print(json.dumps(_child(args[0], args[1], int(args[2]), int(args[3]), int(args[4]), started)))
