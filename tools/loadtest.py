"""A bounded load test of `edgeport-run serve` on loopback, with batching on and off.

    python tools/loadtest.py BUNDLE [BUNDLE ...] [--clients 8] [--requests 2000]
        [--image-requests 250] [--time-limit 60]

For each bundle and each mode (batching on: --max-batch 32 --max-wait-ms 5; no wait: --max-wait-ms 0, so
only the requests queued while the engine is busy share a call; off: --max-batch 1) it starts
the server on 127.0.0.1 and a free port, sends a fixed mix of valid and invalid requests from `--clients`
threads (each stops after its count or at the time limit), and checks that every status is the one
expected and that every answer equals `runtime.load(BUNDLE).predict` on the same input. It reports
p50/p99 latency, throughput, mean items per engine call and the server's resident memory before and after.
Exits 1 when any status or answer is wrong.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import io
import json
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeport import runtime

HOST = "127.0.0.1"
MODES = {"batching on": ("--max-batch", "32", "--max-wait-ms", "5"),
         "no wait": ("--max-batch", "32", "--max-wait-ms", "0"),
         "batching off": ("--max-batch", "1")}
WORDS = ("the film was a great fun story with wonderful acting but the plot felt dull boring and far too long "
         "i loved it hated it best worst movie ever not bad good excellent terrible").split()
VALID_SHARE = 0.8
TOLERANCE = 1e-5


# ---------------------------------------------------------------- inputs and expected answers


def text_pool(n: int, rng: random.Random) -> list[str]:
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 40))) for _ in range(n)]


def image_pool(n: int, rng: random.Random) -> list[bytes]:
    """Small JPEG and PNG files of random blotches (any size: the runtime resizes)."""
    from PIL import Image

    files = []
    for i in range(n):
        size = (rng.randint(48, 320), rng.randint(48, 320))
        pixels = np.random.default_rng(i).integers(0, 256, (size[1] // 8 + 1, size[0] // 8 + 1, 3), dtype=np.uint8)
        image = Image.fromarray(pixels).resize(size, Image.BILINEAR)
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG" if i % 2 else "PNG")
        files.append(buffer.getvalue())
    return files


@dataclass(frozen=True)
class Request:
    """One request of the mix: what to send, the status to expect, and for valid ones the pool items."""

    kind: str
    body: bytes
    content_type: str
    status: int
    items: tuple[int, ...] = ()


Expected = dict  # a valid request's items → one (label, {label: probability}) per item


def make_requests(kind: str, pool: list[Any], count: int, rng: random.Random) -> list[Request]:
    def encode(item: Any) -> Any:
        return item if kind == "text" else {"b64": base64.b64encode(item).decode()}

    requests = []
    for _ in range(count):
        if rng.random() < VALID_SHARE:
            items = tuple(rng.randrange(len(pool)) for _ in range(rng.choice((1, 1, 1, 2, 4))))
            body = json.dumps({"inputs": [encode(pool[i]) for i in items]}).encode()
            requests.append(Request("valid", body, "application/json", 200, items))
            continue
        case = rng.randrange(4)
        if case == 0:
            requests.append(Request("malformed JSON", b'{"inputs": [', "application/json", 400))
        elif case == 1:
            requests.append(Request("wrong field", json.dumps({"input": [encode(pool[0])]}).encode(),
                                    "application/json", 400))
        elif case == 2:
            requests.append(Request("wrong content type", b"a great film", "text/plain", 415))
        else:
            refused = {"inputs": []} if kind == "text" else {"inputs": [{"b64": base64.b64encode(b"no image").decode()}]}
            requests.append(Request("refused input", json.dumps(refused).encode(), "application/json", 422))
    return requests


def expected_answers(model: runtime.Model, pool: list[Any], requests: list[list[Request]]) -> Expected:
    """What `model.predict` gives for each valid request's items, as the service spells it:
    (label, {label: probability}) per item."""
    expected: Expected = {}
    for request in (r for client_requests in requests for r in client_requests if r.status == 200):
        if request.items not in expected:
            rows = model.predict([pool[i] for i in request.items])
            expected[request.items] = [
                (label, dict(zip(model.labels, [1.0 - float(row[0]), float(row[0])] if row.shape[0] == 1
                                 else row.tolist())))
                for row, (label, _) in zip(rows, model.labels_of(rows))]
    return expected


# ---------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Served:
    def __init__(self, bundle: Path, mode_args: tuple[str, ...], variant: str | None, threads: int | None):
        self.port = free_port()
        args = [sys.executable, "-m", "edgeport.runtime", "serve", str(bundle), "--host", HOST,
                "--port", str(self.port), *mode_args, "--log-level", "warning"]
        args += ["--variant", variant] if variant else []
        args += ["--threads", str(threads)] if threads else []
        self.log = tempfile.TemporaryFile("w+")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, text=True)

    def get(self, path: str) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection(HOST, self.port, timeout=10)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.log.seek(0)
                raise SystemExit(f"the server exited with {self.proc.returncode}:\n{self.log.read()}")
            try:
                if self.get("/healthz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise SystemExit("the server did not become ready in time")

    def engine_calls(self) -> tuple[float, float]:
        """(engine calls, items) from /metrics."""
        text = self.get("/metrics")[1].decode()
        values = dict(line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
        return float(values["edgeport_batch_items_count"]), float(values["edgeport_batch_items_sum"])

    def stop(self) -> int:
        self.proc.terminate()
        try:
            return self.proc.wait(30)
        finally:
            self.log.close()


# ---------------------------------------------------------------- clients


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    unexpected: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    max_diff: float = 0.0
    items: int = 0
    sent: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def client(port: int, requests: list[Request], expected: Expected, deadline: float, tally: Tally) -> None:
    connection = http.client.HTTPConnection(HOST, port, timeout=60)
    for request in requests:
        if time.monotonic() > deadline:
            break
        t0 = time.perf_counter()
        try:
            connection.request("POST", "/v1/predict", body=request.body, headers={"content-type": request.content_type})
            response = connection.getresponse()
            status, body = response.status, response.read()
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            connection = http.client.HTTPConnection(HOST, port, timeout=60)
            with tally.lock:
                tally.unexpected.append(f"{request.kind}: {type(exc).__name__}: {exc}")
            continue
        elapsed = time.perf_counter() - t0
        problems, diff = check(request, status, body, expected)
        with tally.lock:
            tally.sent += 1
            tally.statuses[status] = tally.statuses.get(status, 0) + 1
            if status != request.status:
                tally.unexpected.append(f"{request.kind}: {status} (expected {request.status}): {body[:200]!r}")
            elif request.status == 200:
                tally.latencies.append(elapsed)
                tally.items += len(request.items)
                tally.max_diff = max(tally.max_diff, diff)
                tally.mismatches += problems
    connection.close()


def check(request: Request, status: int, body: bytes, expected: Expected) -> tuple[list[str], float]:
    """Problems with a 200 answer (order, labels, probabilities against the runtime) and the largest |Δp|."""
    if status != 200 or request.status != 200:
        return [], 0.0
    predictions = json.loads(body)["predictions"]
    if len(predictions) != len(request.items):
        return [f"{len(predictions)} predictions for {len(request.items)} inputs"], 0.0
    problems, worst = [], 0.0
    for index, prediction, (label, want) in zip(request.items, predictions, expected[request.items]):
        got = prediction["probabilities"]
        if set(got) != set(want):
            problems.append(f"labels {sorted(got)} != {sorted(want)}")
            continue
        diff = max(abs(got[k] - want[k]) for k in want)
        worst = max(worst, diff)
        if diff > TOLERANCE or prediction["label"] != label:
            problems.append(f"item {index}: {prediction['label']} {got} != {label} {want}")
    return problems, worst


# ---------------------------------------------------------------- one run


def run_mode(bundle: Path, mode: str, requests: list[list[Request]], expected: Expected,
             args: argparse.Namespace) -> dict[str, Any]:
    served = Served(bundle, MODES[mode], args.variant, args.threads)
    try:
        served.wait_ready()
        rss_before = rss_mb(served.proc.pid)
        tally = Tally()
        deadline = time.monotonic() + args.time_limit
        threads = [threading.Thread(target=client, args=(served.port, r, expected, deadline, tally)) for r in requests]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        rss_after = rss_mb(served.proc.pid)
        calls, items = served.engine_calls()
    finally:
        code = served.stop()
    latencies = np.array(tally.latencies) * 1000
    return {
        "bundle": str(bundle), "mode": mode, "sent": tally.sent, "wall_s": round(wall, 2),
        "planned": sum(map(len, requests)), "statuses": dict(sorted(tally.statuses.items())),
        "unexpected": len(tally.unexpected), "mismatches": len(tally.mismatches), "max_abs_diff": tally.max_diff,
        "p50_ms": float(np.percentile(latencies, 50)) if len(latencies) else None,
        "p99_ms": float(np.percentile(latencies, 99)) if len(latencies) else None,
        "requests_per_s": tally.sent / wall, "items_per_s": tally.items / wall,
        "items_per_engine_call": items / calls if calls else None,
        "rss_before_mb": round(rss_before, 1), "rss_after_mb": round(rss_after, 1), "exit_code": code,
        "examples": (tally.unexpected + tally.mismatches)[:5],
    }


def render(results: list[dict[str, Any]]) -> str:
    head = (f"{'bundle':<22} {'mode':<13} {'sent':>6} {'s':>6} {'unexp':>5} {'wrong':>5} {'p50 ms':>7} {'p99 ms':>7} "
            f"{'req/s':>7} {'items/s':>8} {'items/call':>10} {'max|Δp|':>8} {'RSS MB before→after':>20}  statuses")
    lines = [head]
    for r in results:
        name = Path(r["bundle"]).name
        lines.append(f"{name:<22} {r['mode']:<13} {r['sent']:>6} {r['wall_s']:>6.1f} {r['unexpected']:>5} "
                     f"{r['mismatches']:>5} {r['p50_ms'] or 0:>7.2f} {r['p99_ms'] or 0:>7.2f} "
                     f"{r['requests_per_s']:>7.0f} {r['items_per_s']:>8.0f} {r['items_per_engine_call'] or 0:>10.2f} "
                     f"{r['max_abs_diff']:>8.1e} "
                     f"{r['rss_before_mb']:>9.1f} → {r['rss_after_mb']:<8.1f}  "
                     + " ".join(f"{k}:{v}" for k, v in r["statuses"].items()))
        lines += [f"    {e}" for e in r["examples"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/loadtest.py", description=__doc__.split("\n")[0])
    parser.add_argument("bundles", nargs="+", type=Path)
    parser.add_argument("--clients", type=int, default=8, help="client threads (default 8)")
    parser.add_argument("--requests", type=int, default=2000, help="requests per client, text bundles (default 2000)")
    parser.add_argument("--image-requests", type=int, default=250, help="requests per client, image bundles (default 250)")
    parser.add_argument("--time-limit", type=float, default=60, help="seconds per run at most (default 60)")
    parser.add_argument("--variant", help="variant to serve (default: the manifest's recommended one)")
    parser.add_argument("--threads", type=int, help="engine threads")
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of: {', '.join(MODES)}")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    results = []
    for bundle in args.bundles:
        model = runtime.load(bundle, variant=args.variant, threads=args.threads)
        kind = model.manifest.kind
        rng = random.Random(0)
        pool = text_pool(200, rng) if kind == "text" else image_pool(24, rng)
        count = args.requests if kind == "text" else args.image_requests
        requests = [make_requests(kind, pool, count, random.Random(1 + c)) for c in range(args.clients)]
        expected = expected_answers(model, pool, requests)
        print(f"{bundle}: {model.artifact.key} on {model.engine.name}, {args.clients} clients × {count} requests "
              f"({VALID_SHARE:.0%} valid), at most {args.time_limit:g} s a run", flush=True)
        del model
        for mode in args.modes.split(","):
            results.append(run_mode(bundle, mode, requests, expected, args))
            print(render(results[-1:]).split("\n", 1)[1], flush=True)
    print()
    print(render(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    bad = [r for r in results if r["unexpected"] or r["mismatches"] or r["exit_code"] != 0]
    if bad:
        print(f"\nFAILED: {len(bad)} run(s) had unexpected statuses, wrong answers or an unclean exit", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
