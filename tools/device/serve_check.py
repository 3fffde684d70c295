"""`edgeport-run serve` on the (emulated) device: start it on loopback, wait for /healthz, ask one
prediction, compare it with `runtime.load(BUNDLE).classify` in this process, stop it with SIGTERM.

    python tools/device/serve_check.py BUNDLE [TEXT ...]

Exits 0 when the service was ready, answered like the runtime and exited 0 on SIGTERM.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request

READY_TIMEOUT_S = 300  # the first import under QEMU is slow
TOLERANCE = 1e-6


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(base: str, server: subprocess.Popen) -> float:
    started = time.monotonic()
    while time.monotonic() - started < READY_TIMEOUT_S:
        if server.poll() is not None:
            raise SystemExit(f"serve exited with {server.returncode} before it was ready")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=5) as reply:
                if reply.status == 200:
                    return time.monotonic() - started
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"serve was not ready after {READY_TIMEOUT_S} s")


def predict(base: str, texts: list[str]) -> list[dict]:
    request = urllib.request.Request(f"{base}/v1/predict", data=json.dumps({"inputs": texts}).encode(),
                                     headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as reply:
        return json.loads(reply.read())["predictions"]


def main(bundle: str, texts: list[str]) -> int:
    from edgeport import runtime

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "edgeport.runtime", "serve", bundle, "--port", str(port),
                               "--threads", "1"])
    try:
        ready_s = wait_ready(base, server)
        served = predict(base, texts)
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=60)
    expected = runtime.load(bundle, threads=1).classify(texts)
    same_labels = [row["label"] for row in served] == [label for label, _ in expected]
    diff = max(abs(row["score"] - score) for row, (_, score) in zip(served, expected))
    print(f"serve: ready after {ready_s:.1f} s, {len(served)} answers, same labels as runtime.classify: {same_labels}, "
          f"max |Δ score| {diff:.1e}, exit code {code} on SIGTERM")
    return 0 if same_labels and diff <= TOLERANCE and code == 0 else 1


if __name__ == "__main__":
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    sys.exit(main(args[0], args[1:] or ["a great film", "dull and far too long"]))
