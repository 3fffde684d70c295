"""`serve --reload-s`: the real server picks up a bundle swapped in beside it (as `pull` swaps one) while
clients keep asking; no request fails, and a swapped-in bundle that does not load is not served."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.serve.conftest import require_serve

require_serve()  # before anything that imports the serve extra

from edgeport.runtime.fleet.device import install, new_stage  # noqa: E402
from tests.serve.conftest import REPO  # noqa: E402

SWITCH_TIMEOUT_S = 60


def post(url: str, texts: list[str]) -> tuple[int, dict]:
    request = urllib.request.Request(url + "/v1/predict", data=json.dumps({"inputs": texts}).encode(),
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def swap(source: Path, bundle: Path) -> None:
    """Put a copy of `source` in as `bundle`, atomically, as a pull does."""
    stage = new_stage(bundle)
    shutil.copytree(source, stage, dirs_exist_ok=True)
    install(stage, bundle)


def test_swapped_bundle_is_served_without_dropping_requests(server_for, text_binary: Path, text_topics: Path,
                                                             tmp_path: Path):
    live = tmp_path / "live"
    shutil.copytree(text_binary, live)
    server = server_for(live, "--reload-s", "0.1")
    answers, stop = [], threading.Event()

    def ask() -> None:
        while not stop.is_set():
            status, body = post(server.url, ["a great film", "oil and crude exports"])
            answers.append((status, body.get("model"), len(body.get("predictions", []))))

    clients = [threading.Thread(target=ask) for _ in range(3)]
    for client in clients:
        client.start()
    try:
        time.sleep(0.5)
        swap(text_topics, live)
        deadline = time.monotonic() + SWITCH_TIMEOUT_S
        while not answers or answers[-1][1] != "topics":
            assert time.monotonic() < deadline, answers[-3:]
            time.sleep(0.05)
        time.sleep(0.3)
    finally:
        stop.set()
        for client in clients:
            client.join()
    assert all(status == 200 and rows == 2 for status, _, rows in answers), [a for a in answers if a[0] != 200][:3]
    models = [model for _, model, _ in answers]
    first_new = models.index("topics")
    assert models[0] == "sentiment" and first_new > 0
    assert set(models[first_new + 3:]) == {"topics"}  # once switched, only the new one answers


def test_swapped_bundle_that_does_not_load_is_not_served(server_for, text_binary: Path, text_topics: Path,
                                                         tmp_path: Path):
    live, broken = tmp_path / "live", tmp_path / "broken"
    shutil.copytree(text_binary, live)
    shutil.copytree(text_topics, broken)
    (broken / "model.fp32.tflite").write_bytes(b"not a model")  # its size and sha256 no longer match
    server = server_for(live, "--reload-s", "0.1")
    swap(broken, live)
    deadline = time.monotonic() + SWITCH_TIMEOUT_S
    while "not served" not in server.output():
        assert time.monotonic() < deadline, server.output()[-2000:]
        time.sleep(0.05)
    status, body = post(server.url, ["a great film"])
    assert (status, body["model"]) == (200, "sentiment")


def test_serve_with_trusted_root_refuses_an_unsigned_bundle(text_binary: Path, tmp_path: Path):
    pytest.importorskip("tuf", reason="needs the fleet extra")
    from edgeport.runtime.fleet.keys import generate_keys

    keys = generate_keys(tmp_path / "keys")  # a root, and no signed targets that name this bundle
    done = subprocess.run([sys.executable, "-m", "edgeport.runtime", "serve", str(text_binary), "--trusted-root",
                           str(keys.root_metadata), "--port", "0"], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 3
    assert done.stderr.strip().splitlines()[-1].startswith("edgeport-run: error: no signed targets.json beside")
