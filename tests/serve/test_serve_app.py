"""The service's endpoints and every error status, through Starlette's TestClient."""

from __future__ import annotations

import base64
import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests.serve.conftest import require_serve

require_serve(test_client=True)  # before anything that imports the serve extra

from starlette.testclient import TestClient  # noqa: E402

from edgeport import runtime  # noqa: E402
from edgeport.runtime.serve.app import ServeOptions, create_app  # noqa: E402
from tests.serve.conftest import started, wait_ready  # noqa: E402

TEXTS = ["A great, fun film!", "Dull and far too long: boring.", "", "zzz unknown words only", "It's a wonderful story"]


def probabilities_of(prediction: dict, labels: list[str]) -> list[float]:
    return [prediction["probabilities"][label] for label in labels]


def check_predictions(answer: dict, model: runtime.Model, items: list) -> None:
    """The answer holds, in input order, what `model.predict` gives for the same items."""
    expected = model.predict(items)
    assert len(answer["predictions"]) == len(items)
    for row, prediction in zip(expected, answer["predictions"]):
        full = [1.0 - row[0], row[0]] if row.shape[0] == 1 else list(row)
        np.testing.assert_allclose(probabilities_of(prediction, model.labels), full, rtol=0, atol=1e-6)
        best = int(np.argmax(full))
        assert prediction["label"] == model.labels[best]
        assert prediction["score"] == pytest.approx(full[best], abs=1e-6)
        assert sum(prediction["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)


# ---------------------------------------------------------------- the endpoints


def test_predict_text_binary_in_input_order(text_binary: Path):
    with started(text_binary, variant="tflite-fp32") as (client, model):
        r = client.post("/v1/predict", json={"inputs": TEXTS})
        assert r.status_code == 200, r.text
        answer = r.json()
        assert answer["model"] == model.manifest.task and answer["variant"] == "tflite-fp32"
        assert set(answer["predictions"][0]["probabilities"]) == set(model.labels) and len(model.labels) == 2
        check_predictions(answer, model, TEXTS)
        # the sentiment words decide: the first text is positive, the second negative
        assert [p["label"] for p in answer["predictions"][:2]] == [model.labels[1], model.labels[0]]


def test_predict_text_topics_int8(text_topics: Path):
    with started(text_topics, variant="tflite-dynamic-int8") as (client, model):
        texts = ["Oil barrels: crude exports rose", "The bank cut rates; the dollar fell", "merger stake"]
        r = client.post("/v1/predict", json={"inputs": texts})
        assert r.status_code == 200, r.text
        check_predictions(r.json(), model, texts)
        assert len(r.json()["predictions"][0]["probabilities"]) == 5


def photos(models_dir: Path) -> list[Path]:
    return sorted((models_dir / "images").glob("*.[jp][pn]g"))


def test_predict_images_as_files_and_as_base64(image_bundle: Path, models_dir: Path):
    paths = photos(models_dir)
    assert len(paths) >= 3
    with started(image_bundle, variant="tflite-int8") as (client, model):
        files = [("file", (p.name, p.read_bytes(), "application/octet-stream")) for p in paths]
        by_form = client.post("/v1/predict", files=files)
        assert by_form.status_code == 200, by_form.text
        check_predictions(by_form.json(), model, paths)  # the same as predicting the files by path
        doc = {"inputs": [{"b64": base64.b64encode(p.read_bytes()).decode()} for p in paths]}
        by_json = client.post("/v1/predict", json=doc)
        assert by_json.status_code == 200, by_json.text
        assert by_json.json() == by_form.json()
        # the photos are coloured by class: red cats, green dogs, blue horses
        want = [{"cat": "cats", "dog": "dogs", "hor": "horses"}[p.name[:3]] for p in paths]
        assert [p["label"] for p in by_form.json()["predictions"]] == want


def test_info_is_what_the_model_says(text_binary: Path):
    with started(text_binary, variant="onnx-fp32") as (client, model):
        r = client.get("/v1/info")
        assert r.status_code == 200
        info = r.json()
        assert info == json.loads(json.dumps(model.info(), default=str))
        assert info["variant"] == "onnx-fp32" and info["backend"] == "onnxruntime"


def test_metrics_count_requests_batches_and_queue(text_binary: Path):
    with started(text_binary) as (client, _):
        for _ in range(3):
            assert client.post("/v1/predict", json={"inputs": ["good", "bad"]}).status_code == 200
        assert client.post("/v1/predict", content=b"{", headers={"content-type": "application/json"}).status_code == 400
        text = client.get("/metrics").text
    lines = dict(line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
    assert float(lines['edgeport_requests_total{endpoint="/v1/predict",status="200"}']) == 3
    assert float(lines['edgeport_requests_total{endpoint="/v1/predict",status="400"}']) == 1
    assert float(lines['edgeport_request_seconds_count{endpoint="/v1/predict"}']) == 4
    assert float(lines["edgeport_batch_items_count"]) == 3  # three engine calls (the warm-up is not one)
    assert float(lines["edgeport_batch_items_sum"]) == 6
    assert float(lines["edgeport_predicted_items_total"]) == 6
    assert float(lines["edgeport_queue_items"]) == 0


def test_metrics_registry_is_per_app(text_binary: Path):
    with started(text_binary) as (first, _), started(text_binary) as (second, _):
        assert first.post("/v1/predict", json={"inputs": ["good"]}).status_code == 200
        assert 'edgeport_requests_total{endpoint="/v1/predict",status="200"} 1.0' in first.get("/metrics").text
        assert 'endpoint="/v1/predict"' not in second.get("/metrics").text


def test_healthz_ready(text_binary: Path):
    with started(text_binary) as (client, _):
        r = client.get("/healthz")
        assert (r.status_code, r.json()) == (200, {"status": "ready"})


def test_page_matches_the_bundle_kind(text_binary: Path, image_bundle: Path):
    with started(text_binary) as (client, model):
        r = client.get("/")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        about = json.loads(r.text.split("const MODEL = ", 1)[1].split(";\n", 1)[0])
        assert about["kind"] == "text" and about["labels"] == model.labels and about["ready"] is True
    with started(image_bundle) as (client, _):
        about = json.loads(client.get("/").text.split("const MODEL = ", 1)[1].split(";\n", 1)[0])
        assert about["kind"] == "image"


# ---------------------------------------------------------------- errors


def assert_error(r, status: int, *words: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) == {"error", "message"} and "Traceback" not in r.text
    for word in words:
        assert word in body["message"], body["message"]
    return body


@pytest.fixture(scope="module")
def text_client(models_dir: Path):
    with started(models_dir / "text_binary", max_body_bytes=2048) as (client, _):
        yield client


@pytest.fixture(scope="module")
def image_client(models_dir: Path):
    with started(models_dir / "image", variant="tflite-fp32") as (client, _):
        yield client


@pytest.mark.parametrize("body, words", [
    (b"{not json", ["not valid JSON"]),
    (b"\xff\xfe", ["not valid JSON"]),
    (b'["a great film"]', ['"inputs"']),
    (b'{"input": ["a"]}', ['"inputs"']),
    (b'{"inputs": "a great film"}', ["must be a list"]),
    (b'{"inputs": ["good", 3]}', ["inputs[1]", "strings"]),
    (b'{"inputs": ["good"], "top_k": 3}', ["top_k"]),
])
def test_400_malformed_json_or_wrong_field(text_client: TestClient, body: bytes, words: list[str]):
    assert_error(text_client.post("/v1/predict", content=body, headers={"content-type": "application/json"}),
                 400, *words)


def test_400_for_images(image_client: TestClient):
    assert_error(image_client.post("/v1/predict", json={"inputs": ["cat.jpg"]}), 400, '"b64"')
    assert_error(image_client.post("/v1/predict", json={"inputs": [{"b64": "%%%"}]}), 400, "base64")
    assert_error(image_client.post("/v1/predict", data={"note": "no file"},
                                   headers={"content-type": "multipart/form-data; boundary=x"}), 400)
    assert_error(image_client.post("/v1/predict", files=[("note", (None, b"no file"))]), 400, "no file")


def test_413_body_too_large(text_client: TestClient):
    big = json.dumps({"inputs": ["good film " * 300]}).encode()
    assert_error(text_client.post("/v1/predict", content=big, headers={"content-type": "application/json"}),
                 413, "2,048 bytes")

    def chunks():  # no Content-Length: the limit holds as the body arrives
        for _ in range(10):
            yield b" " * 1000

    assert_error(text_client.post("/v1/predict", content=chunks(), headers={"content-type": "application/json"}),
                 413, "--max-body-mb")
    assert text_client.post("/v1/predict", json={"inputs": ["good"]}).status_code == 200  # still serving


def test_415_wrong_content_type(text_client: TestClient, image_client: TestClient):
    assert_error(text_client.post("/v1/predict", content=b"a great film", headers={"content-type": "text/plain"}),
                 415, "application/json")
    assert_error(text_client.post("/v1/predict", content=b'{"inputs": ["a"]}'), 415)  # no content type at all
    assert_error(text_client.post("/v1/predict", files=[("file", ("a.txt", b"good", "text/plain"))]),
                 415, "application/json")
    assert_error(image_client.post("/v1/predict", content=b"\x89PNG", headers={"content-type": "image/png"}),
                 415, "multipart/form-data")


def test_422_input_the_model_refuses(text_client: TestClient, image_client: TestClient):
    body = assert_error(text_client.post("/v1/predict", json={"inputs": []}), 422, "empty")
    assert body["error"] == "EmptyBatchError"
    not_an_image = base64.b64encode(b"this is not an image").decode()
    body = assert_error(image_client.post("/v1/predict", json={"inputs": [{"b64": not_an_image}]}), 422,
                        "is not an image Pillow can read (JPEG, PNG")
    assert "object at 0x" not in body["message"]
    assert body["error"] == "ImageError"
    r = image_client.post("/v1/predict", files=[("file", ("x.jpg", b"\xff\xd8 truncated", "image/jpeg"))])
    assert_error(r, 422, "is not an image Pillow can read (JPEG, PNG")


def test_404_and_405_are_json(text_client: TestClient):
    assert_error(text_client.get("/v2/predict"), 404)
    assert_error(text_client.get("/v1/predict"), 405)


def test_401_api_key(text_binary: Path):
    with started(text_binary, api_key="s3cret-key") as (client, _):
        doc = {"inputs": ["good"]}
        assert_error(client.post("/v1/predict", json=doc), 401, "API key")
        assert_error(client.post("/v1/predict", json=doc, headers={"authorization": "Bearer wrong"}), 401)
        assert_error(client.post("/v1/predict", json=doc, headers={"x-api-key": "s3cret-ke"}), 401)
        assert_error(client.get("/v1/info"), 401)
        # refused before the body is read: a large body without the key is a 401, not a 413
        assert_error(client.post("/v1/predict", content=b" " * (11 << 20), headers={"content-type": "application/json"}), 401)
        assert client.post("/v1/predict", json=doc, headers={"authorization": "Bearer s3cret-key"}).status_code == 200
        assert client.post("/v1/predict", json=doc, headers={"x-api-key": "s3cret-key"}).status_code == 200
        assert client.get("/v1/info", headers={"x-api-key": "s3cret-key"}).status_code == 200
        assert client.get("/healthz").status_code == 200  # probes and scrapers need no key
        assert client.get("/metrics").status_code == 200


def test_503_while_loading_then_ready(text_binary: Path):
    release = threading.Event()

    def slow_load() -> runtime.Model:
        release.wait(30)
        return runtime.load(text_binary, threads=1)

    with TestClient(create_app(slow_load, ServeOptions()), raise_server_exceptions=False) as client:
        r = client.get("/healthz")
        assert (r.status_code, r.json()["status"]) == (503, "loading")
        assert_error(client.post("/v1/predict", json={"inputs": ["good"]}), 503, "loading")
        assert_error(client.get("/v1/info"), 503)
        assert client.get("/").status_code == 200
        release.set()
        wait_ready(client)
        assert client.post("/v1/predict", json={"inputs": ["good"]}).status_code == 200


def test_503_when_the_model_fails_to_load(copy_bundle, text_binary: Path):
    broken = copy_bundle(text_binary)
    (broken / "manifest.json").write_text("{")

    with TestClient(create_app(lambda: runtime.load(broken), ServeOptions()), raise_server_exceptions=False) as client:
        for _ in range(500):
            if client.get("/healthz").json()["status"] != "loading":
                break
            time.sleep(0.02)
        health = client.get("/healthz")
        assert health.status_code == 503 and health.json()["status"] == "failed"
        assert "manifest" in health.json()["error"]
        assert_error(client.post("/v1/predict", json={"inputs": ["good"]}), 503, "did not load", "manifest")
