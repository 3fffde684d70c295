"""Soak: every variant of each bundle loaded once, 8 threads calling `predict` and `classify` on a mix of
valid and invalid inputs for a fixed time. Passes when no call raised anything but the expected typed
errors, every valid answer equals the sequential one, and resident memory after warm-up grew by less
than 5 MB. Reports calls per second and the memory curve.

    python tools/soak.py BUNDLE... [--seconds 600] [--threads 8] [--json soak.json]

A harness run on a workstation or board (`make soak`), not part of the installed runtime.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgeport import runtime
from edgeport.runtime.errors import EdgeportError, EngineMissingError, EngineUnsupportedError, InputError

MAX_GROWTH_MB = 5.0


def rss_mb() -> float:
    """Resident memory of this process in MB, from /proc (the soak runs on Linux: a Pi, CI)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@dataclass
class Case:
    """One call: a model, a method, an input, and the sequential answer (or the error type expected)."""

    model: int
    method: str
    raw: Any
    answer: Any = None
    error: type | None = None


def inputs_for(kind: str, rng: np.random.Generator) -> tuple[list[Any], list[Any]]:
    """(valid inputs, invalid inputs) for a text or image model."""
    if kind == "text":
        valid = [["a great film"], ["dull and far too long", "a wonderful story", ""],
                 ["oil barrels: crude exports rose"] * 5, "bad bad bad", ["zzz " * 2000]]
        invalid = [[], [None], ["ok", 3], [b"\xff\xfe bad utf-8"], 42, [["nested"]]]
    else:
        valid = [[rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)],
                 [rng.integers(0, 256, (40, 24, 3), dtype=np.uint8) for _ in range(3)],
                 rng.random((32, 32, 3), dtype=np.float32) * 255]
        invalid = [[], [np.zeros((4, 4, 2), np.uint8)], [b"not an image"], [np.full((8, 8, 3), np.nan, np.float32)],
                   ["/nonexistent/picture.jpg"], [3.5]]
    return valid, invalid


def load_models(bundles: list[Path]) -> tuple[list[runtime.Model], list[str]]:
    """One model per variant of each bundle; variants no installed engine runs are skipped (named)."""
    models, skipped = [], []
    for bundle in bundles:
        for artifact in runtime.load(bundle).manifest.artifacts:
            try:
                models.append(runtime.load(bundle, variant=artifact.key))
            except (EngineMissingError, EngineUnsupportedError) as exc:
                skipped.append(f"{bundle.name}/{artifact.key}: {exc}")
    return models, skipped


def sequential_cases(models: list[runtime.Model], seed: int = 0) -> list[Case]:
    """Every (model, method, input), with its answer computed one call at a time."""
    cases, rng = [], np.random.default_rng(seed)
    for i, model in enumerate(models):
        valid, invalid = inputs_for(model.manifest.kind, rng)
        for method in ("predict", "classify"):
            call = getattr(model, method)
            cases += [Case(i, method, raw, answer=call(raw)) for raw in valid]
            for raw in invalid:
                try:
                    call(raw)
                except InputError as exc:
                    cases.append(Case(i, method, raw, error=type(exc)))
                else:
                    raise AssertionError(f"{method}({raw!r:.40}) was expected to fail")
    return cases


def same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    return a == b


def soak(bundles: list[str | os.PathLike], seconds: float = 600.0, threads: int = 8, warmup: float | None = None,
         every: float = 1.0, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the soak; return its figures (see the module doc). `warmup` defaults to a tenth of the run, 5–60 s."""
    paths = [Path(b) for b in bundles]
    models, skipped = load_models(paths)
    cases = sequential_cases(models)
    warmup = min(60.0, max(5.0, seconds / 10)) if warmup is None else warmup
    stop = threading.Event()
    lock = threading.Lock()
    totals = {"calls": 0, "valid": 0, "invalid": 0, "mismatches": 0}
    unexpected: list[str] = []

    def worker(index: int) -> None:
        rng, counts = random.Random(index), {"calls": 0, "valid": 0, "invalid": 0, "mismatches": 0}
        problems = []
        while not stop.is_set():
            case = cases[rng.randrange(len(cases))]
            try:
                got = getattr(models[case.model], case.method)(case.raw)
                if case.error is not None:
                    problems.append(f"{case.method} on invalid input {case.raw!r:.40} returned instead of raising")
                elif not same(got, case.answer):
                    counts["mismatches"] += 1
                counts["valid"] += 1
            except EdgeportError as exc:
                if case.error is None or type(exc) is not case.error:
                    problems.append(f"{case.method}: {type(exc).__name__}: {exc}"[:300])
                counts["invalid"] += 1
            except Exception as exc:  # noqa: BLE001 — the soak reports anything else as a failure
                problems.append(f"{case.method}: untyped {type(exc).__name__}: {exc}"[:300])
            counts["calls"] += 1
        with lock:
            for key, value in counts.items():
                totals[key] += value
            unexpected.extend(problems)

    workers = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    started = time.perf_counter()
    curve = [(0.0, rss_mb())]
    for thread in workers:
        thread.start()
    while (elapsed := time.perf_counter() - started) < seconds:
        time.sleep(min(every, seconds - elapsed))
        curve.append((round(time.perf_counter() - started, 2), round(rss_mb(), 2)))
        if len(curve) % max(1, int(30 / every)) == 0:
            log(f"soak: {curve[-1][0]:.0f} s, RSS {curve[-1][1]:.1f} MB")
    stop.set()
    for thread in workers:
        thread.join()
    wall = time.perf_counter() - started
    after = [rss for t, rss in curve if t >= warmup] or [curve[-1][1]]
    growth = float(np.mean(after[-3:]) - np.mean(after[:3]))
    result = {
        "bundles": [str(p) for p in paths], "models": [m.artifact.key for m in models], "skipped": skipped,
        "threads": threads, "seconds": round(wall, 2), "warmup_s": warmup, **totals,
        "calls_per_s": round(totals["calls"] / wall, 1), "unexpected": unexpected[:20],
        "unexpected_count": len(unexpected), "rss_mb": curve, "rss_growth_after_warmup_mb": round(growth, 2),
        "max_growth_mb": MAX_GROWTH_MB,
    }
    result["passed"] = not unexpected and totals["mismatches"] == 0 and growth < MAX_GROWTH_MB and totals["calls"] > 0
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/soak.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("bundles", nargs="+")
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("SOAK_SECONDS", 600)))
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--warmup", type=float, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    result = soak(args.bundles, args.seconds, args.threads, args.warmup)
    curve = result["rss_mb"]
    print(f"soak: {len(result['models'])} models, {args.threads} threads, {result['seconds']} s: "
          f"{result['calls']:,} calls ({result['calls_per_s']:,}/s; {result['valid']:,} valid, {result['invalid']:,} "
          f"refused as expected), {result['mismatches']} answers unlike the sequential ones, "
          f"{result['unexpected_count']} unexpected errors")
    print(f"soak: RSS {curve[0][1]:.1f} MB at start, {min(r for _, r in curve):.1f}–{max(r for _, r in curve):.1f} MB, "
          f"growth after {result['warmup_s']:.0f} s warm-up {result['rss_growth_after_warmup_mb']:+.2f} MB "
          f"(limit {MAX_GROWTH_MB} MB)")
    for problem in result["unexpected"]:
        print(f"  unexpected: {problem}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    print("soak: " + ("passed" if result["passed"] else "FAILED"))
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
