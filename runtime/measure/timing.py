"""Timing for `runtime.bench`: interleaved repeats, percentiles, fresh-process cold starts, the machine.

Calls that are compared are timed in alternating rounds (a, b, b, a, ...), so a noisy neighbour
slows every contender alike and their ratio holds; the garbage collector is off while timing.
"""

from __future__ import annotations

import gc
import importlib.metadata
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

MAX_REPEATS = 20_000
COLD_START_TIMEOUT_S = 300
ENGINE_PACKAGES = ("ai-edge-litert", "tflite-runtime", "onnxruntime", "numpy", "pillow", "tensorflow", "tensorflow-cpu",
                   "keras")

# Runs in a fresh interpreter: the clock starts before `from edgeport import runtime`. The input is read after the load
# and its time left out; the first prediction is `predict_tensor` on that batch of one.
_COLD_START = r"""
import time
t0 = time.perf_counter()
import sys
from edgeport import runtime
t1 = time.perf_counter()
model = runtime.load(sys.argv[1], variant=sys.argv[2], threads=int(sys.argv[3]))
t2 = time.perf_counter()
import numpy as np
x = np.load(sys.argv[4], allow_pickle=False)
t3 = time.perf_counter()
model.predict_tensor(x)
t4 = time.perf_counter()
import json, os
from edgeport.runtime.measure.timing import peak_rss
print(json.dumps({"pid": os.getpid(), "import_s": t1 - t0, "load_s": t2 - t1, "first_prediction_s": t4 - t3,
                  "seconds": (t4 - t3) + (t2 - t0), **peak_rss(), "backend": model.engine.name}))
"""


def peak_rss() -> dict[str, int]:
    """This process's peak resident memory, in bytes: `peak_rss_bytes` is Linux's VmHWM where there is one,
    because `getrusage`'s ru_maxrss (also given) survives exec and so can report the parent's memory
    when the child was spawned by vfork, as `subprocess` does."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            hwm = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration, ValueError):
        hwm = usage
    return {"peak_rss_bytes": hwm, "ru_maxrss_bytes": usage}


def summarize(nanoseconds: list[int] | np.ndarray) -> dict[str, float]:
    """Milliseconds: p50, p90, p99, mean, min, max, and the sample count."""
    ms = np.asarray(nanoseconds, dtype=np.float64) / 1e6
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return {"p50": float(p50), "p90": float(p90), "p99": float(p99), "mean": float(ms.mean()),
            "min": float(ms.min()), "max": float(ms.max()), "samples": int(ms.size)}


def measure(calls: Mapping[str, Callable[[], Any]], repeats: int, warmup: int,
            min_time_s: float = 0.0) -> dict[str, dict[str, float]]:
    """Time each call `repeats` times (more for fast calls, until `min_time_s` has passed), interleaved.

    Returns `summarize` of each call's own times, by name.
    """
    names = list(calls)
    for _ in range(max(warmup, 1)):
        for name in names:
            calls[name]()
    started = time.perf_counter()
    for name in names:
        calls[name]()
    per_round = max(time.perf_counter() - started, 1e-9)
    rounds = max(repeats, min(MAX_REPEATS, math.ceil(min_time_s / per_round)))
    samples: dict[str, list[int]] = {name: [] for name in names}
    clock = time.perf_counter_ns
    enabled = gc.isenabled()
    gc.disable()
    try:
        for i in range(rounds):
            for name in (names if i % 2 == 0 else reversed(names)):
                call = calls[name]
                t = clock()
                call()
                samples[name].append(clock() - t)
    finally:
        if enabled:
            gc.enable()
    return {name: summarize(times) for name, times in samples.items()}


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    """(result, seconds) of one call."""
    t = time.perf_counter()
    result = call()
    return result, time.perf_counter() - t


def child_env() -> dict[str, str]:
    """The environment of a measured child: this one, with TensorFlow quiet."""
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}


def run_child(argv: list[str], timeout: float = COLD_START_TIMEOUT_S) -> dict[str, Any]:
    """Run a measuring child; its last stdout line is JSON. Adds `process_wall_s` (spawn to exit)."""
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=child_env(), stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"measuring process failed (exit status {done.returncode}): {tail}")
    return {**json.loads(lines[-1]), "process_wall_s": wall}


def cold_start(bundle: str | os.PathLike, variant: str, threads: int, x_file: str | os.PathLike) -> dict[str, Any]:
    """Import `runtime`, load `variant` and predict `x_file` once, in a fresh process; its peak RSS."""
    return run_child([sys.executable, "-c", _COLD_START, str(bundle), variant, str(threads), str(x_file)])


def cpu_model() -> str:
    """The CPU's name, from /proc/cpuinfo where there is one."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.split(":")[0].strip() in ("model name", "Model", "Hardware", "cpu model"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    """What the figures were measured on: CPU, cores, load, Python and engine versions (not imported)."""
    versions = {}
    for name in ENGINE_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "cpu": cpu_model(), "cores": os.cpu_count(), "usable_cores": usable, "arch": platform.machine(),
        "system": f"{platform.system()} {platform.release()}", "python": platform.python_version(),
        "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "packages": versions,
    }
