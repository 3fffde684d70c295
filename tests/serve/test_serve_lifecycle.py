"""The real server (uvicorn in a subprocess on 127.0.0.1): start, answer, SIGTERM, a bundle that fails to load."""

from __future__ import annotations

import http.client
import json
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from tests.serve.conftest import require_serve

require_serve()  # before anything that imports the serve extra

from edgeport import runtime  # noqa: E402
from tests.serve.conftest import REPO, free_port  # noqa: E402

SHUTDOWN_BOUND_S = 15


def post(url: str, doc: dict, timeout: float = 30) -> tuple[int, dict]:
    request = urllib.request.Request(url + "/v1/predict", data=json.dumps(doc).encode(),
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_serves_and_answers_like_the_runtime(server_for, text_binary: Path):
    server = server_for(text_binary, "--variant", "tflite-int8")
    texts = ["A great, fun film!", "bad bad bad"]
    status, answer = post(server.url, {"inputs": texts})
    assert status == 200
    model = runtime.load(text_binary, variant="tflite-int8")
    positive = [p["probabilities"][model.labels[1]] for p in answer["predictions"]]
    np.testing.assert_allclose(positive, model.predict(texts)[:, 0], rtol=0, atol=1e-6)
    with urllib.request.urlopen(server.url + "/metrics", timeout=5) as r:
        assert b'edgeport_requests_total{endpoint="/v1/predict",status="200"} 1.0' in r.read()


def slow_post(port: int, doc: dict, resume: threading.Event, started: threading.Barrier) -> tuple[int, dict]:
    """POST `doc`, sending half the body, then the rest only once `resume` is set: a request in flight."""
    body = json.dumps(doc).encode()

    def parts():
        yield body[: len(body) // 2]
        started.wait(30)
        resume.wait(30)
        yield body[len(body) // 2:]

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", "/v1/predict", body=parts(),
                           headers={"content-type": "application/json", "content-length": str(len(body))})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_sigterm_finishes_requests_in_flight_and_exits_0(server_for, text_binary: Path):
    server = server_for(text_binary, "--shutdown-timeout", "10")
    texts = [f"{'great ' * i}{'boring ' * (5 - i)}" for i in range(6)]
    resume, started = threading.Event(), threading.Barrier(len(texts) + 1)
    with ThreadPoolExecutor(len(texts)) as pool:
        futures = [pool.submit(slow_post, server.port, {"inputs": [t]}, resume, started) for t in texts]
        started.wait(30)  # every request has sent its headers and half its body
        time.sleep(0.3)
        t0 = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert not listening(server.port)  # stopped accepting while the requests are still in flight
        assert server.proc.poll() is None and not any(f.done() for f in futures)
        resume.set()
        answers = [f.result(timeout=30) for f in futures]
    assert server.proc.wait(SHUTDOWN_BOUND_S) == 0, server.output()
    assert time.monotonic() - t0 < SHUTDOWN_BOUND_S
    model = runtime.load(text_binary)
    assert [status for status, _ in answers] == [200] * len(texts)
    positive = [answer["predictions"][0]["probabilities"][model.labels[1]] for _, answer in answers]
    np.testing.assert_allclose(positive, model.predict(texts)[:, 0], rtol=0, atol=1e-6)
    assert "Traceback" not in server.output()


def test_sigterm_cuts_a_stuck_request_after_the_timeout(server_for, text_binary: Path):
    server = server_for(text_binary, "--shutdown-timeout", "2")
    resume, started = threading.Event(), threading.Barrier(2)
    with ThreadPoolExecutor(1) as pool:
        stuck = pool.submit(slow_post, server.port, {"inputs": ["good"]}, resume, started)
        started.wait(30)
        t0 = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(SHUTDOWN_BOUND_S) == 0  # its body never comes: the bound holds
        assert 1.5 < time.monotonic() - t0 < 8
        resume.set()
        try:
            stuck.result(timeout=30)
        except (OSError, http.client.HTTPException, ValueError):
            pass


def test_sigterm_when_idle_exits_0_quickly(server_for, text_binary: Path):
    server = server_for(text_binary)
    t0 = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(SHUTDOWN_BOUND_S) == 0
    assert time.monotonic() - t0 < 5
    assert not listening(server.port)


def test_a_bundle_that_fails_to_load_exits_before_binding(copy_bundle, text_binary: Path):
    broken = copy_bundle(text_binary)
    (broken / "model.fp32.tflite").write_bytes(b"\0" * 64)
    port = free_port()
    done = subprocess.run([sys.executable, "-m", "edgeport.runtime", "serve", str(broken), "--variant", "tflite-fp32",
                           "--port", str(port)], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 3
    assert "error:" in done.stderr and "model.fp32.tflite" in done.stderr
    assert "Traceback" not in done.stderr and "Uvicorn running" not in done.stderr + done.stdout


def test_a_missing_bundle_exits_2_as_in_every_command(tmp_path: Path):
    done = subprocess.run([sys.executable, "-m", "edgeport.runtime", "serve", str(tmp_path / "nothing"),
                           "--port", str(free_port())], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 2 and "does not exist" in done.stderr and "Traceback" not in done.stderr
