"""Request batching: concurrent requests share engine calls, and each caller gets its own rows back."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from tests.serve.conftest import require_serve

require_serve(test_client=True)  # before anything that imports the serve extra

from edgeport import runtime  # noqa: E402
from edgeport.runtime.errors import ValueRangeError  # noqa: E402
from edgeport.runtime.serve.app import rows_independent  # noqa: E402
from edgeport.runtime.serve.batching import Batcher  # noqa: E402
from tests.serve.conftest import started  # noqa: E402
from tests.runtime.conftest import write_manifest_doc  # noqa: E402


class Engine:
    """A stand-in engine: row i → (10 * x[i], x[i] + 1), refusing any batch that holds a negative value."""

    def __init__(self, delay: float = 0.0):
        self.calls: list[int] = []
        self.delay = delay
        self.lock = threading.Lock()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        with self.lock:
            self.calls.append(len(x))
        if self.delay:
            threading.Event().wait(self.delay)
        if (x < 0).any():
            raise ValueRangeError("negative values are refused")
        return np.stack([10 * x[:, 0], x[:, 0] + 1], axis=1)


async def _submit_all(batcher: Batcher, batches: list[np.ndarray]) -> list:
    batcher.start()
    try:
        return await asyncio.gather(*(batcher.submit(b) for b in batches), return_exceptions=True)
    finally:
        await batcher.close()


def test_concurrent_requests_share_calls_and_get_their_own_rows():
    engine = Engine(delay=0.01)
    sizes = [1, 3, 2, 1, 5, 4, 1, 2, 3, 1] * 4
    batches, start = [], 0
    for n in sizes:
        batches.append(np.arange(start, start + n, dtype=np.float32)[:, None])
        start += n
    results = asyncio.run(_submit_all(Batcher(engine, max_batch=8, max_wait_ms=50), batches))
    for x, y in zip(batches, results):
        np.testing.assert_array_equal(y, np.stack([10 * x[:, 0], x[:, 0] + 1], axis=1))
    assert sum(engine.calls) == sum(sizes)
    assert max(engine.calls) <= 8
    assert len(engine.calls) < len(sizes) / 2  # gathered: far fewer calls than requests


def test_a_request_larger_than_max_batch_runs_alone():
    engine = Engine()
    batches = [np.ones((20, 1), np.float32), np.full((2, 1), 2, np.float32)]
    results = asyncio.run(_submit_all(Batcher(engine, max_batch=8, max_wait_ms=20), batches))
    assert [len(y) for y in results] == [20, 2]
    assert sorted(engine.calls) == [2, 20]


def test_max_batch_one_is_one_call_per_request():
    engine = Engine()
    batches = [np.full((2, 1), i, np.float32) for i in range(6)]
    results = asyncio.run(_submit_all(Batcher(engine, max_batch=1, max_wait_ms=50), batches))
    assert engine.calls == [2] * 6
    assert [float(y[0, 0]) for y in results] == [10.0 * i for i in range(6)]


def test_a_refused_request_does_not_fail_the_others_of_its_call():
    engine = Engine(delay=0.01)
    batches = [np.full((1, 1), i, np.float32) for i in range(6)]
    batches[3] = np.full((2, 1), -1, np.float32)
    results = asyncio.run(_submit_all(Batcher(engine, max_batch=32, max_wait_ms=50), batches))
    assert isinstance(results[3], ValueRangeError)
    for i in (0, 1, 2, 4, 5):
        np.testing.assert_array_equal(results[i], [[10.0 * i, i + 1.0]])
    assert max(engine.calls) > 2  # they were gathered, then retried one by one


def _timed(coroutine_fn, **batcher_options):
    async def run():
        engine = Engine()
        batcher = Batcher(engine, **batcher_options)
        batcher.start()
        t0 = asyncio.get_running_loop().time()
        results = await coroutine_fn(batcher)
        elapsed = asyncio.get_running_loop().time() - t0
        await batcher.close()
        return elapsed, engine.calls, results

    return asyncio.run(run())


def test_a_lone_request_does_not_wait_when_nothing_is_coming():
    elapsed, calls, _ = _timed(lambda b: b.submit(np.ones((1, 1), np.float32)), max_batch=32, max_wait_ms=500)
    assert elapsed < 0.25 and calls == [1]


def test_waits_for_a_request_on_its_way():
    async def two(batcher: Batcher):
        async def late():
            with batcher.coming():
                await asyncio.sleep(0.05)  # being read and preprocessed
                x = np.full((2, 1), 2, np.float32)
            return await batcher.submit(x)

        task = asyncio.ensure_future(late())
        await asyncio.sleep(0)  # it is on its way before the first request arrives
        return await asyncio.gather(batcher.submit(np.ones((1, 1), np.float32)), task)

    elapsed, calls, (first, second) = _timed(two, max_batch=32, max_wait_ms=500)
    assert calls == [3]  # one engine call for both
    np.testing.assert_array_equal(first, [[10, 2]])
    np.testing.assert_array_equal(second, [[20, 3], [20, 3]])
    assert 0.04 < elapsed < 0.4


def test_waits_at_most_max_wait_for_a_request_that_never_comes():
    async def stuck(batcher: Batcher):
        with batcher.coming():  # on its way, but never submitted while we wait
            return await batcher.submit(np.ones((1, 1), np.float32))

    elapsed, calls, _ = _timed(stuck, max_batch=32, max_wait_ms=60)
    assert 0.055 <= elapsed < 0.5 and calls == [1]


def test_bad_options_are_refused():
    with pytest.raises(ValueError):
        Batcher(Engine(), max_batch=0)
    with pytest.raises(ValueError):
        Batcher(Engine(), max_wait_ms=-1)


def test_served_callers_get_their_own_rows_under_concurrency(text_topics: Path):
    texts = [f"{' '.join(['oil'] * (i % 4))} {' '.join(['bank'] * (i % 3))} merger {'profit ' * (i % 5)}"
             for i in range(48)]
    with started(text_topics, variant="tflite-fp32", max_batch=16, max_wait_ms=100) as (client, model):
        expected = model.predict(texts)

        def ask(i: int) -> dict:
            r = client.post("/v1/predict", json={"inputs": [texts[i], texts[(i + 1) % len(texts)]]})
            assert r.status_code == 200, r.text
            return r.json()

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(ask, range(len(texts))))
        for i, answer in enumerate(answers):
            for row, prediction in zip((expected[i], expected[(i + 1) % len(texts)]), answer["predictions"]):
                got = [prediction["probabilities"][label] for label in model.labels]
                np.testing.assert_allclose(got, row, rtol=0, atol=1e-6)
        metrics = client.get("/metrics").text
    count = float(metrics.split("edgeport_batch_items_count ", 1)[1].split()[0])
    total = float(metrics.split("edgeport_batch_items_sum ", 1)[1].split()[0])
    assert total == 2 * len(texts)
    assert count < len(texts)  # some requests shared an engine call


class RowModel:
    """A stand-in model for `rows_independent`: text in, one output column per row."""

    def __init__(self, per_batch: bool):
        self.per_batch = per_batch
        self.manifest = SimpleNamespace(kind="text")
        self.preprocessor = lambda items: np.array([[float(len(t))] for t in items], np.float32)
        self.preprocessor.vocabulary = {f"w{i}": i for i in range(50)}

    def predict_tensor(self, x: np.ndarray) -> np.ndarray:
        return x / x.max() if self.per_batch else x / 1000.0  # scaled by the batch's range, or not


def test_rows_independent_spots_answers_that_depend_on_the_batch(text_binary: Path):
    assert rows_independent(RowModel(per_batch=False)) is True
    assert rows_independent(RowModel(per_batch=True)) is False
    assert rows_independent(runtime.load(text_binary, variant="tflite-int8")) is True


@pytest.fixture
def onnx_dynamic_int8(copy_bundle, text_topics: Path) -> Path:
    """text_topics with an onnxruntime dynamic-int8 variant: activations quantised over the whole batch."""
    quantization = pytest.importorskip("onnxruntime.quantization")
    bundle = copy_bundle(text_topics)
    quantization.quantize_dynamic(str(bundle / "model.fp32.onnx"), str(bundle / "model.dynamic-int8.onnx"),
                                  weight_type=quantization.QuantType.QInt8)
    data = (bundle / "model.dynamic-int8.onnx").read_bytes()
    manifest = json.loads((bundle / "manifest.json").read_text())
    fp32 = next(a for a in manifest["artifacts"] if a["format"] == "onnx" and a["variant"] == "fp32")
    manifest["artifacts"].append({**fp32, "variant": "dynamic-int8", "file": "model.dynamic-int8.onnx",
                                  "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)})
    write_manifest_doc(bundle, manifest)
    return bundle


def test_a_variant_that_answers_rows_by_batch_is_never_gathered(onnx_dynamic_int8: Path):
    model = runtime.load(onnx_dynamic_int8, variant="onnx-dynamic-int8", threads=1)
    texts = ["oil", " ".join(["oil barrels crude exports trade tariffs bank rates"] * 3), "merger stake profit"]
    assert not np.array_equal(model.predict(texts)[:1], model.predict(texts[:1]))  # the premise: rows depend on company
    assert rows_independent(model) is False
    with started(onnx_dynamic_int8, variant="onnx-dynamic-int8", max_batch=32, max_wait_ms=200) as (client, _):
        with ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(lambda t: client.post("/v1/predict", json={"inputs": [t]}).json(), texts * 2))
        calls = client.get("/metrics").text
    for text, answer in zip(texts * 2, answers):
        got = [answer["predictions"][0]["probabilities"][label] for label in model.labels]
        np.testing.assert_array_equal(np.float32(got), model.predict([text])[0])  # as if it had been alone
    assert "edgeport_batch_items_sum 6.0" in calls and "edgeport_batch_items_count 6.0" in calls
