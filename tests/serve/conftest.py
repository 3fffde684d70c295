"""Fixtures for the service tests: the runtime tests' small bundles, a started app, a real server.

Each test module calls `require_serve()` first: it skips without the serve extra (the device test
environment does not install it), so nothing here imports it at module level."""

from __future__ import annotations

import contextlib
import importlib.util
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from edgeport import runtime
from tests.runtime.conftest import (  # noqa: F401 — the runtime tests' bundles, shared
    REPO, copy_bundle, image_bundle, models_dir, text_binary, text_topics,
)

READY_TIMEOUT_S = 60
SERVE_MODULES = ("starlette", "uvicorn", "prometheus_client", "python_multipart")


def require_serve(test_client: bool = False) -> None:
    """Skip the calling test module without the serve extra (or, for `test_client`, without httpx2)."""
    missing = [m for m in SERVE_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"needs the serve extra ({', '.join(missing)} missing): pip install 'edgeport[serve]'",
                    allow_module_level=True)
    if test_client and importlib.util.find_spec("httpx2") is None and importlib.util.find_spec("httpx") is None:
        pytest.skip("starlette's TestClient needs httpx2 (the dev extra)", allow_module_level=True)


def wait_ready(client, timeout: float = READY_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.get("/healthz").status_code == 200:
            return
        time.sleep(0.02)
    raise AssertionError(f"not ready after {timeout} s: {client.get('/healthz').text}")


@contextlib.contextmanager
def started(bundle: Path, variant: str | None = None, **options):
    """A TestClient on the app for `bundle`, ready (model loaded and warmed up)."""
    from starlette.testclient import TestClient

    from edgeport.runtime.serve.app import ServeOptions, create_app

    model = runtime.load(bundle, variant=variant, threads=1)
    with TestClient(create_app(lambda: model, ServeOptions(**options)), raise_server_exceptions=False) as client:
        wait_ready(client)
        yield client, model


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`python -m edgeport.runtime serve BUNDLE` in a subprocess on 127.0.0.1 and a free port."""

    def __init__(self, bundle: Path, *args: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.TemporaryFile("w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edgeport.runtime", "serve", str(bundle), "--port", str(self.port),
             "--threads", "1", *args],
            cwd=REPO, stdout=self.log, stderr=subprocess.STDOUT, text=True)

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the server exited with {self.proc.returncode}: {self.output()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        raise AssertionError(f"the server was not ready after {timeout} s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@pytest.fixture
def server_for():
    """Start servers (`server_for(bundle, *args)`), each stopped at the end of the test."""
    servers: list[Server] = []

    def start(bundle: Path, *args: str) -> Server:
        server = Server(bundle, *args)
        servers.append(server)
        server.wait_ready()
        return server

    yield start
    for server in servers:
        server.stop()
