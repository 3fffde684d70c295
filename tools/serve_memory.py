"""`edgeport-run serve` under hostile requests, held to a memory limit: peak RSS, /healthz latency, log growth.

    python tools/serve_memory.py BUNDLE [BUNDLE ...] [--limit-mb 1024] [--nofile 1024] [--json FILE]

For each bundle it starts the server on 127.0.0.1 (open-file limit `--nofile`, as a Raspberry Pi's
default) and runs each attack the reliability probe found (text bundles: 100,000 one-letter texts in one
request, and 1.6 million in a 9.6 MB body; image bundles: 1,000 1×1 PNGs in one multipart body, 16 concurrent 40-megapixel PNGs; both:
1,100 connections that send a request line and one header and stop). Meanwhile it asks /healthz every
20 ms and reads the server's VmRSS every 5 ms; the server is killed when its RSS passes `--limit-mb` (as
a cgroup's memory limit would; with `--rlimit-data` the kernel also refuses it private memory beyond the
limit), its peak is VmHWM. Reports per attack: the statuses answered, /healthz
p50/p99 and failures, peak RSS against the limit, whether the server was killed, and how much the log
grew. Exits 1 when the server died or passed the limit, or /healthz failed.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import numpy as np

HOST = "127.0.0.1"
HEALTH_EVERY_S = 0.02
RSS_EVERY_S = 0.005


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def proc_status(pid: int, field: str) -> float:
    """A /proc/PID/status field in MB (VmRSS, VmHWM); NaN once the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def png(width: int, height: int) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), (120, 60, 200)).save(out, format="PNG")
    return out.getvalue()


def multipart(files: list[bytes]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{i}.png"\r\n'
             f"Content-Type: image/png\r\n\r\n".encode() + data + b"\r\n" for i, data in enumerate(files)]
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


class Served:
    """The server in a subprocess, watched: RSS sampled (and killed above the limit), /healthz timed."""

    def __init__(self, bundle: Path, limit_mb: float, nofile: int, extra: list[str], rlimit_data: bool = False):
        self.port, self.limit_mb, self.killed = free_port(), limit_mb, False
        self.log = tempfile.NamedTemporaryFile("w+", suffix=".log")

        def limits() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
            if rlimit_data:  # the kernel refuses private memory (heap, anonymous maps) beyond the limit
                data = int(limit_mb * 1024 * 1024)
                resource.setrlimit(resource.RLIMIT_DATA, (data, data))

        self.proc = subprocess.Popen([sys.executable, "-m", "edgeport.runtime", "serve", str(bundle), "--host", HOST,
                                      "--port", str(self.port), *extra], stdout=self.log, stderr=subprocess.STDOUT,
                                     preexec_fn=limits)
        self._stop = threading.Event()

    def log_bytes(self) -> int:
        return Path(self.log.name).stat().st_size

    def request(self, method: str, path: str, body: bytes | None = None, content_type: str = "application/json",
                timeout: float = 120) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection(HOST, self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers={"content-type": content_type} if body else {})
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"the server exited with {self.proc.returncode}: {Path(self.log.name).read_text()}")
            try:
                if self.request("GET", "/healthz", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise SystemExit("the server did not become ready in time")

    def watch(self) -> None:
        threading.Thread(target=self._rss, daemon=True).start()

    def _rss(self) -> None:
        while not self._stop.is_set() and self.proc.poll() is None:
            if proc_status(self.proc.pid, "VmRSS") > self.limit_mb:
                self.killed = True
                self.proc.kill()
                return
            time.sleep(RSS_EVERY_S)

    def probe(self) -> subprocess.Popen:
        """/healthz asked from a process of its own (so the attack's own work here does not delay it)."""
        return subprocess.Popen([sys.executable, __file__, "--probe", str(self.port)], stdout=subprocess.PIPE, text=True)

    def stop(self) -> int:
        self._stop.set()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()


# ---------------------------------------------------------------- the attacks: each returns the statuses seen


def many_texts(served: Served) -> dict[int, int]:
    body = json.dumps({"inputs": ["a"] * 100_000}).encode()
    with ThreadPoolExecutor(4) as pool:
        return tally(pool.map(lambda _: served.request("POST", "/v1/predict", body)[0], range(100)))


def ten_mb_of_texts(served: Served) -> dict[int, int]:
    body = json.dumps({"inputs": ["ab"] * 1_600_000}).encode()  # 9.6 MB, just under the body limit
    with ThreadPoolExecutor(2) as pool:
        return tally(pool.map(lambda _: served.request("POST", "/v1/predict", body)[0], range(4)))


def thousand_tiny_pngs(served: Served) -> dict[int, int]:
    body, kind = multipart([png(1, 1)] * 1000)
    with ThreadPoolExecutor(2) as pool:
        return tally(pool.map(lambda _: served.request("POST", "/v1/predict", body, kind)[0], range(4)))


def large_pngs(served: Served) -> dict[int, int]:
    body, kind = multipart([png(6324, 6324)])  # 39.99 megapixels, just under the runtime's limit
    with ThreadPoolExecutor(16) as pool:
        return tally(pool.map(lambda _: served.request("POST", "/v1/predict", body, kind)[0], range(16)))


def half_sent(served: Served, count: int = 1100, hold_s: float = 20.0) -> dict[int, int]:
    sockets, refused = [], 0
    for _ in range(count):
        try:
            s = socket.create_connection((HOST, served.port), timeout=5)
            s.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: edge\r\n")
            sockets.append(s)
        except OSError:
            refused += 1
    time.sleep(hold_s)
    closed = 0
    for s in sockets:
        s.setblocking(False)
        try:
            closed += s.recv(1) == b""
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
        s.close()
    return {"opened": len(sockets), "refused": refused, f"closed by the server within {hold_s:g} s": closed}


def tally(statuses: Any) -> dict[int, int]:
    out: dict[int, int] = {}
    for s in statuses:
        out[s] = out.get(s, 0) + 1
    return dict(sorted(out.items()))


def quiet(served: Served) -> dict[int, int]:
    """No attack: /healthz on this machine as it is (other load on the cores shows here)."""
    time.sleep(5)
    return {}


TEXT_ATTACKS = {"none (baseline, 5 s)": quiet, "100,000 texts in one request (x100, 4 at once)": many_texts,
                "a 9.6 MB body of 1.6 million texts (x4, 2 at once)": ten_mb_of_texts,
                "1,100 half-sent connections": half_sent}
IMAGE_ATTACKS = {"none (baseline, 5 s)": quiet, "1,000 1x1 PNGs in one multipart (x4, 2 at once)": thousand_tiny_pngs,
                 "16 concurrent 40-megapixel PNGs": large_pngs, "1,100 half-sent connections": half_sent}


def run_attack(served: Served, name: str, attack: Callable[[Served], Any]) -> dict[str, Any]:
    log_before, served_before = served.log_bytes(), served.proc.poll() is None
    prober = served.probe()
    prober.stdout.readline()  # its SIGTERM handler is set
    time.sleep(0.5)
    t0 = time.perf_counter()
    try:
        answered = attack(served)
    except OSError as exc:
        answered = {"error": f"{type(exc).__name__}: {exc}"}
    wall = time.perf_counter() - t0
    time.sleep(0.5)
    prober.send_signal(signal.SIGTERM)
    asked = json.loads(prober.communicate(timeout=30)[0])
    health = np.array(asked["latencies"]) * 1000
    return {"attack": name, "answered": answered, "wall_s": round(wall, 1),
            "healthz_n": len(health), "healthz_failures": asked["failures"],
            "healthz_p50_ms": round(float(np.percentile(health, 50)), 1) if len(health) else None,
            "healthz_p99_ms": round(float(np.percentile(health, 99)), 1) if len(health) else None,
            "peak_rss_mb": round(proc_status(served.proc.pid, "VmHWM"), 1),
            "alive": served_before and served.proc.poll() is None, "killed_over_limit": served.killed,
            "log_growth_kb": round((served.log_bytes() - log_before) / 1024, 1)}


def probe(port: int) -> None:
    """Ask /healthz every HEALTH_EVERY_S until SIGTERM, then print the latencies and failures as JSON."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("ready", flush=True)
    latencies, failures = [], 0
    while not stop.is_set():
        t0 = time.perf_counter()
        try:
            connection = http.client.HTTPConnection(HOST, port, timeout=10)
            connection.request("GET", "/healthz")
            ok = connection.getresponse().status == 200
            connection.close()
        except OSError:
            ok = False
        elapsed = time.perf_counter() - t0
        if ok:
            latencies.append(elapsed)
        else:
            failures += 1
        stop.wait(max(0.0, HEALTH_EVERY_S - elapsed))
    print(json.dumps({"latencies": latencies, "failures": failures}))


def main(argv: list[str] | None = None) -> int:
    if argv is None and sys.argv[1:2] == ["--probe"]:
        probe(int(sys.argv[2]))
        return 0
    parser = argparse.ArgumentParser(prog="python tools/serve_memory.py", description=__doc__.split("\n")[0])
    parser.add_argument("bundles", nargs="+", type=Path)
    parser.add_argument("--limit-mb", type=float, default=1024, help="memory limit in MB (default 1024)")
    parser.add_argument("--nofile", type=int, default=1024, help="the server's open-file limit (default 1024)")
    parser.add_argument("--threads", default="2", help="engine threads (default 2)")
    parser.add_argument("--rlimit-data", action="store_true",
                        help="also have the kernel hold the server's private memory to the limit (RLIMIT_DATA)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    results = []
    for bundle in args.bundles:
        kind = json.loads((bundle / "manifest.json").read_text())["kind"]
        served = Served(bundle, args.limit_mb, args.nofile, ["--threads", args.threads, "--log-level", "info"],
                        args.rlimit_data)
        try:
            served.wait_ready()
            rss = proc_status(served.proc.pid, "VmRSS")
            print(f"{bundle}: ready, RSS {rss:.0f} MB, limit {args.limit_mb:g} MB, open files {args.nofile}", flush=True)
            served.watch()
            for name, attack in (TEXT_ATTACKS if kind == "text" else IMAGE_ATTACKS).items():
                result = {"bundle": bundle.name, "rss_ready_mb": round(rss, 1), **run_attack(served, name, attack)}
                results.append(result)
                print(render([result]), flush=True)
                if not result["alive"]:
                    break
        finally:
            served.stop()
    print()
    print(render(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    bad = [r for r in results if not r["alive"] or r["killed_over_limit"] or r["healthz_failures"]]
    return 1 if bad else 0


def render(results: list[dict[str, Any]]) -> str:
    lines = []
    for r in results:
        lines.append(f"{r['bundle']:<10} {r['attack']:<48} healthz p50 {r['healthz_p50_ms']} ms p99 "
                     f"{r['healthz_p99_ms']} ms ({r['healthz_n']} asked, {r['healthz_failures']} failed)  peak RSS so far "
                     f"{r['peak_rss_mb']} MB (ready {r['rss_ready_mb']})  {'alive' if r['alive'] else 'DEAD'}"
                     f"{' KILLED over the limit' if r['killed_over_limit'] else ''}  log +{r['log_growth_kb']} KB  "
                     f"{r['wall_s']} s  answered {r['answered']}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
