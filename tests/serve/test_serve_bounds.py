"""The service's memory and connection bounds: pieces of max_batch items, items per request, the shared
pixel budget, JSON limits, preprocessing off the event loop, half-sent connections."""

from __future__ import annotations

import asyncio
import io
import re
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests.serve.conftest import require_serve

require_serve(test_client=True)

from edgeport.runtime.serve import inputs  # noqa: E402
from edgeport.runtime.serve.budget import Budget, BudgetSpent  # noqa: E402
from edgeport.runtime.serve.pipeline import pieces  # noqa: E402
from tests.serve.conftest import started  # noqa: E402


def png(width: int, height: int) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 90)).save(out, format="PNG")
    return out.getvalue()


def batch_sizes(client) -> dict[str, float]:
    text = client.get("/metrics").text
    return {le: float(v) for le, v in re.findall(r'edgeport_batch_items_bucket\{le="([^"]+)"\} (\S+)', text)}


def test_pieces_bound_items_and_cost():
    assert [(s.start, s.stop) for s in pieces([1] * 10, 4, 100)] == [(0, 4), (4, 8), (8, 10)]
    assert [(s.start, s.stop) for s in pieces([5, 5, 5, 20, 1], 8, 10)] == [(0, 2), (2, 3), (3, 4), (4, 5)]
    assert list(pieces([], 4, 10)) == []


def test_a_large_request_goes_in_max_batch_pieces_and_answers_as_predict(text_binary: Path):
    texts = [f"film number {i} was {'great' if i % 3 else 'dull'}" for i in range(100)]
    with started(text_binary, variant="tflite-fp32", max_batch=8) as (client, model):
        before = batch_sizes(client)
        r = client.post("/v1/predict", json={"inputs": texts})
        assert r.status_code == 200, r.text
        got = np.array([p["probabilities"][model.labels[1]] for p in r.json()["predictions"]])
        np.testing.assert_allclose(got, model.predict(texts)[:, 0], atol=1e-6)
        after = batch_sizes(client)
    calls = after["+Inf"] - before["+Inf"]
    assert calls >= 13 and after["8.0"] - before["8.0"] == calls  # 100 items, no engine call above 8


def test_more_items_than_max_items_is_413_naming_the_limit(text_binary: Path):
    with started(text_binary, max_items=50) as (client, _):
        r = client.post("/v1/predict", json={"inputs": ["a"] * 100_000})
        assert r.status_code == 413 and r.json()["error"] == "TooManyItems"
        assert "100,000 items" in r.json()["message"] and "limit of 50" in r.json()["message"]
        assert "--max-items" in r.json()["message"]
        assert client.post("/v1/predict", json={"inputs": ["a"] * 50}).status_code == 200


def test_too_many_items_are_counted_before_the_parse(monkeypatch):
    import json

    body = json.dumps({"inputs": ["ab"] * 5000}).encode()
    monkeypatch.setattr(inputs.json, "loads", lambda *a, **k: pytest.fail("parsed"))
    with pytest.raises(inputs.TooManyItems, match="limit of 1,024"):
        inputs.json_items(body, "text", 1024)
    images = json.dumps({"inputs": [{"b64": "AA=="}] * 1025}).encode()
    with pytest.raises(inputs.TooManyItems):
        inputs.json_items(images, "image", 1024)


def test_escaped_quotes_and_commas_are_not_counted_as_items():
    import json

    texts = ['she said "no", then "yes", ' * 20 + "\\"] * 10
    assert inputs.json_items(json.dumps({"inputs": texts}).encode(), "text", 10) == texts
    images = [{"b64": "AA=="}] * 10
    assert len(inputs.json_items(json.dumps({"inputs": images}).encode(), "image", 10)) == 10


def test_more_files_than_max_items_is_413(image_bundle: Path):
    tiny = png(1, 1)
    with started(image_bundle, max_items=20) as (client, _):
        files = [("image", (f"{i}.png", tiny, "image/png")) for i in range(21)]
        r = client.post("/v1/predict", files=files)
        assert r.status_code == 413 and r.json()["error"] == "TooManyItems", r.text
        r = client.post("/v1/predict", files=files[:20])
        assert r.status_code == 200 and len(r.json()["predictions"]) == 20


def test_images_wait_for_the_pixel_budget_then_get_503_with_retry_after(image_bundle: Path):
    with started(image_bundle, max_pixels=10_000) as (client, _):
        service = client.app.state.service
        service.pixels.wait_s = 0.2
        portal = client.portal  # the app's event loop
        portal.call(service.pixels.take, 10_000)  # another request holds the whole budget
        r = client.post("/v1/predict", files=[("image", ("a.png", png(50, 50), "image/png"))])
        assert r.status_code == 503 and r.json()["error"] == "Busy", r.text
        assert r.headers["retry-after"] == "1" and "decoded pixels" in r.json()["message"]
        portal.call(service.pixels.give, 10_000)
        assert client.post("/v1/predict", files=[("image", ("a.png", png(50, 50), "image/png"))]).status_code == 200
        assert service.pixels.used == 0


def test_budget_waits_for_a_share_given_back():
    async def scenario() -> list[str]:
        budget, order = Budget(100, "units", "--x", wait_s=2.0), []
        await budget.take(80)

        async def second():
            async with budget.holding(50):
                order.append("second")

        task = asyncio.create_task(second())
        await asyncio.sleep(0.05)
        order.append("given back")
        await budget.give(80)
        await task
        with pytest.raises(BudgetSpent):
            budget.wait_s = 0.01
            await budget.take(80)
            await budget.take(80)
        return order

    assert asyncio.run(scenario()) == ["given back", "second"]


@pytest.mark.parametrize("body,words", [(b'{"inputs": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
                                        (b'{"inputs": [' + b"7" * 5000 + b"]}", "not valid JSON")])
def test_json_deeper_or_larger_than_the_limits_is_400(text_binary: Path, body: bytes, words: str):
    with started(text_binary) as (client, _):
        r = client.post("/v1/predict", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 400 and r.json()["error"] == "MalformedJSON" and words in r.json()["message"]


class Slow:
    """A preprocessor that takes a second (as a 10 MB body of texts does on a small board)."""

    def __init__(self, real):
        self.real = real

    def __call__(self, items):
        time.sleep(1.0)
        return self.real(items)


def test_text_preprocessing_runs_off_the_event_loop(text_binary: Path):
    with started(text_binary) as (client, model):
        model.preprocessor = Slow(model.preprocessor)
        worker = threading.Thread(target=client.post, args=("/v1/predict",), kwargs={"json": {"inputs": ["x"]}})
        worker.start()
        time.sleep(0.2)
        began = time.perf_counter()
        assert client.get("/healthz").status_code == 200
        waited = time.perf_counter() - began
        worker.join()
    assert waited < 0.5


def test_half_sent_connections_are_closed_and_healthz_answers(text_binary: Path, server_for):
    server = server_for(text_binary, "--max-connections", "16", "--request-timeout", "1")
    stalled = []
    for _ in range(40):  # more than the cap: the oldest still sending are closed for new ones
        s = socket.create_connection(("127.0.0.1", server.port))
        s.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\n")
        stalled.append(s)
    began = time.perf_counter()
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = s.recv(4096)
    assert answer.startswith(b"HTTP/1.1 200") and time.perf_counter() - began < 1.0
    time.sleep(1.5)
    for s in stalled:  # every half-sent connection was closed: by the cap, or after its second
        s.settimeout(2)
        try:
            assert s.recv(100) == b""
        except ConnectionResetError:  # closed with the request unread
            pass
        s.close()
    log = server.output()
    assert "Traceback" not in log
    assert log.count("did not send a whole request") <= 1 and log.count("closed the oldest") <= 1
