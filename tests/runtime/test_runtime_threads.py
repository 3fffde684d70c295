"""One loaded model called from 8 threads × 200 calls gives exactly the sequential results."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from edgeport import runtime
from tests.runtime.conftest import expected

THREADS, CALLS = 8, 200


def _hammer(call, inputs: list) -> list:
    barrier = threading.Barrier(THREADS)

    def worker(t: int) -> list:
        barrier.wait()  # start together
        return [call(inputs[(t * 7 + i) % len(inputs)]) for i in range(CALLS)]

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(worker, range(THREADS)))


@pytest.mark.parametrize("bundle,variant", [("text_binary", "tflite-fp32"), ("text_binary", "tflite-int8"),
                                            ("text_binary", "onnx-fp32"), ("image_bundle", "tflite-int8")])
def test_threads_match_sequential(request, bundle, variant):
    path = request.getfixturevalue(bundle)
    model = runtime.load(path, variant=variant, threads=1)
    x, _ = expected(path)
    inputs = [x[i : i + 1 + i % 4] for i in range(len(x) - 3)]  # batch sizes 1-4: the engine resizes under load
    sequential = [model.predict_tensor(batch) for batch in inputs]
    results = _hammer(model.predict_tensor, inputs)
    for t, outputs in enumerate(results):
        for i, out in enumerate(outputs):
            np.testing.assert_array_equal(out, sequential[(t * 7 + i) % len(inputs)])


def test_threads_on_raw_text(text_topics):
    model = runtime.load(text_topics, threads=2)
    texts = [["Oil barrels: crude exports rose"], ["The bank cut rates", "merger stake", "profit"], ["trade"]]
    sequential = [model.classify(t) for t in texts]
    results = _hammer(model.classify, texts)
    assert all(out == sequential[(t * 7 + i) % len(texts)] for t, outs in enumerate(results) for i, out in enumerate(outs))
