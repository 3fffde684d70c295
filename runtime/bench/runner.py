"""`edgeport-run bench`: the figures a user picks a variant by, measured side by side in one run.

For every variant of a bundle: file size, load time, first inference, warm latency (p50/p90/p99/mean)
and throughput per thread count and batch size, next to the engine called directly on the same
batches (the runtime's overhead); for text, raw strings end to end; for images, image files end to
end against the decode plus the engine (and, for a quantised input, the pixel table against float
normalisation and quantisation); a cold start in a fresh process with its peak memory. Then, where
TensorFlow and `keras/model.keras` are present, the Keras model on the same batches and its own cold
start (`bench.keras`, in a separate process: this module never imports TensorFlow). Last, the fastest
variant that passed its parity check (batch 1, one thread; within `TIE` of it, the smaller file wins)
is recorded in the results.

One recommendation policy (`runtime.measure.recommend`), export's and this one's: the fastest variant that passed,
at batch 1 and one thread, the smaller file within `TIE`. Export measures it on the exporting machine;
the bench records its own choice, and writes it to the manifest's `recommended` when asked
(`BenchOptions.recommend`, `edgeport-run bench --recommend`), best on the device itself.
"""

from __future__ import annotations

import datetime
import itertools
import os
import tempfile
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from edgeport import runtime
from edgeport.runtime.measure.direct_engine import DirectEngine, engine_feeds, fixed_batch
from edgeport.runtime.bench.inputs import BenchInputs, make_inputs
from edgeport.runtime.bench.keras import keras_baseline
from edgeport.runtime.measure.recommend import TIE, Candidate, choose
from edgeport.runtime.bench.report import run_of
from edgeport.runtime.measure.timing import cold_start, machine, measure, timed
from edgeport.runtime.errors import EdgeportError, UsageError
from edgeport.runtime.quant import is_quantized
from edgeport.runtime.manifest import Artifact, Manifest, read_manifest, read_verified_artifact, resolve_artifact_path, write_manifest

SCHEMA = "edgeport-bench/1"


@dataclass
class BenchOptions:
    """What to measure; the defaults follow `benchmark_model` (warm-up, then at least 50 runs)."""

    variants: Sequence[str] | None = None
    threads: Sequence[int] = (1, 2)
    batches: Sequence[int] = (1, 8)
    repeats: int = 50
    warmup: int = 5
    min_time_s: float = 0.2  # fast calls repeat until this much time has passed (at most 20,000 times)
    cold_start: bool = True
    keras: bool = True
    recommend: bool = False  # write the fastest passing variant into the manifest's `recommended`
    texts: Sequence[str] | None = None
    images: str | None = None  # a folder of photos for the image-file path (default: synthetic JPEGs)
    extra: dict[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        for name, values in (("threads", self.threads), ("batch", self.batches)):
            if not values or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values):
                raise UsageError(f"--{name} takes positive integers, e.g. 1,2; got {list(values)}")
        if self.repeats < 1 or self.warmup < 0:
            raise UsageError(f"--repeats must be at least 1 and --warmup at least 0, got {self.repeats}, {self.warmup}")


def select(manifest: Manifest, names: Sequence[str] | None) -> list[Artifact]:
    """The artifacts named (keys or unique bare variant names), or all of them, in manifest order."""
    if not names:
        return list(manifest.artifacts)
    keys = {manifest.artifact(name).key for name in names}
    return [a for a in manifest.artifacts if a.key in keys]


def cycling(calls: Sequence[Callable[[], Any]]) -> Callable[[], Any]:
    """One call that runs `calls` in turn."""
    following = itertools.cycle(calls).__next__
    return lambda: following()()


def bench_runs(bundle: Path, artifact: Artifact, inputs: BenchInputs, options: BenchOptions,
               kind: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Load and time one variant at each thread count and batch size; (load facts, runs)."""
    facts: dict[str, Any] = {}
    runs: list[dict[str, Any]] = []
    data = read_verified_artifact(bundle, artifact)
    for threads in options.threads:
        with warnings.catch_warnings():  # a failed variant is measured on purpose; the table shows its status
            warnings.simplefilter("ignore")
            model, load_s = timed(lambda: runtime.load(bundle, variant=artifact.key, threads=threads))
        _, first_s = timed(lambda: model.predict_tensor(inputs.first(min(options.batches))[:1]))
        if not facts:
            facts = {"load_s": load_s, "first_inference_s": first_s, "backend": model.engine.name,
                     "backend_version": model.engine.version}
        direct = DirectEngine(data, artifact.format, model.engine.name, threads)
        fixed = fixed_batch(model)
        for batch in options.batches:
            xs = inputs.tensors[batch]
            calls = {"runtime": cycling([lambda x=x: model.predict_tensor(x) for x in xs])}
            if fixed in (None, batch):
                calls["engine"] = cycling([direct.caller(engine_feeds(model, x)) for x in xs])
            if is_quantized(model.input_specs[0]):  # also timed on input already quantised: the runtime minus quantising
                ready = [engine_feeds(model, x)[0] for x in xs]
                calls["ready"] = cycling([lambda r=r: model.predict_tensor(r) for r in ready])
            if kind == "text":
                calls["raw"] = cycling([lambda t=t: model.predict(t) for t in inputs.texts[batch]])
            if inputs.files:
                calls.update(image_calls(model, inputs.files[batch]))
            stats = measure(calls, options.repeats, options.warmup, options.min_time_s)
            runs.append(summarize_run(threads, batch, stats))
    return facts, runs


def image_calls(model: runtime.Model, batches: list[list[str]]) -> dict[str, Callable[[], Any]]:
    """Image files end to end (`files`) and their decode alone (`decode`); for a quantised input also
    the float path end to end (`files_float`: normalise, then quantise) and, on decoded pixels, the
    step that differs: the pixel table (`table`) against normalising and quantising (`float_quantize`)."""
    pre = model.preprocessor
    calls = {"files": cycling([lambda f=f: model.predict(f) for f in batches]),
             "decode": cycling([lambda f=f: pre.pixels(f) for f in batches])}
    if model.pixel_table is not None:
        pixels = [pre.pixels(f) for f in batches]
        calls["files_float"] = cycling([lambda f=f: model.predict_tensor(pre(f)) for f in batches])
        calls["table"] = cycling([lambda p=p: model.engine_input(model.pixel_table(p)) for p in pixels])
        calls["float_quantize"] = cycling([lambda p=p: model.engine_input(pre.normalized(p)) for p in pixels])
    return calls


def summarize_run(threads: int, batch: int, stats: dict[str, dict[str, float]]) -> dict[str, Any]:
    """One (threads, batch) row: latencies in ms, throughputs in items/s, overhead against the engine."""
    rt = stats["runtime"]
    run: dict[str, Any] = {"threads": threads, "batch": batch, "latency_ms": rt,
                           "throughput_items_s": 1000.0 * batch / rt["p50"]}
    engine = stats.get("engine")
    if engine:
        run.update(engine_ms=engine, engine_items_s=1000.0 * batch / engine["p50"],
                   overhead_ratio=rt["p50"] / engine["p50"], overhead_us=1000.0 * (rt["p50"] - engine["p50"]))
    ready = stats.get("ready")
    if ready and engine:
        run.update(ready_ms=ready, ready_overhead_ratio=ready["p50"] / engine["p50"],
                   ready_overhead_us=1000.0 * (ready["p50"] - engine["p50"]))
    files, decode = stats.get("files"), stats.get("decode")
    if files and decode:
        run.update(files_ms=files, decode_ms=decode, files_items_s=1000.0 * batch / files["p50"],
                   files_over_tensor=files["p50"] / rt["p50"])
        if engine:  # the image-file path against the least it can cost: the decode, then the engine
            run["files_over_decode_engine"] = files["p50"] / (decode["p50"] + engine["p50"])
    if files and "files_float" in stats:
        flt, table, fq = stats["files_float"], stats["table"], stats["float_quantize"]
        run.update(files_float_ms=flt, table_ms=table, float_quantize_ms=fq, table_speedup=fq["p50"] / table["p50"])
        if engine:
            run["files_float_over_decode_engine"] = flt["p50"] / (decode["p50"] + engine["p50"])
    raw = stats.get("raw")
    if raw:
        run.update(raw_ms=raw, raw_items_s=1000.0 * batch / raw["p50"], raw_over_tensor=raw["p50"] / rt["p50"])
        if engine:
            run["raw_over_engine"] = raw["p50"] / engine["p50"]
    return run


def bench_variant(bundle: Path, artifact: Artifact, inputs: BenchInputs, options: BenchOptions, kind: str,
                  x_file: Path) -> dict[str, Any]:
    """Every figure of one variant; an `error` instead where it cannot run here."""
    parity = artifact.parity or {}
    row: dict[str, Any] = {
        "variant": artifact.key, "format": artifact.format, "file": artifact.file,
        "size": resolve_artifact_path(bundle, artifact).stat().st_size, "status": artifact.status,
        "accuracy": parity.get("accuracy"), "keras_accuracy": parity.get("keras_accuracy"),
        "class_agreement": parity.get("class_agreement"), "max_abs_diff": parity.get("max_abs_diff"),
    }
    try:
        facts, runs = bench_runs(bundle, artifact, inputs, options, kind)
    except EdgeportError as exc:
        return {**row, "error": str(exc)}
    row.update(facts, runs=runs)
    if options.cold_start:
        try:
            row["cold_start"] = cold_start(bundle, artifact.key, options.threads[0], x_file)
        except Exception as exc:  # noqa: BLE001 — reported in the table, the other figures stand
            row["cold_start"] = {"error": str(exc)}
    return row


def reference_point(results: dict[str, Any]) -> tuple[int, int]:
    """(threads, batch) the recommendation and the summaries use: 1 thread and batch 1 where measured."""
    settings = results["settings"]
    return min(settings["threads"]), min(settings["batches"])


def recommend(results: dict[str, Any]) -> tuple[str | None, str]:
    """The fastest variant that passed its parity check at (1 thread, batch 1); ties → smaller file
    (`runtime.measure.recommend`, the rule export recommends by too)."""
    threads, batch = reference_point(results)
    candidates = [Candidate(r["variant"], r["status"] == "passed", r["size"], run["latency_ms"]["p50"], r.get("accuracy"))
                  for r in results["variants"] if "error" not in r for run in [run_of(r, threads, batch)] if run]
    choice = choose(candidates)
    if choice is None:
        return None, "no benchmarked variant passed its parity check"
    measured = f"edgeport-run bench, {results['machine']['cpu']}, {results['created'][:10]}"
    return choice.chosen.key, choice.reason(measured, at=f"batch {batch}, {threads} thread{'s' if threads > 1 else ''}")


def comparisons(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each quantised variant against its format's fp32: speed-up and size share (1 thread, batch 1)."""
    threads, batch = reference_point(results)
    rows = {r["variant"]: r for r in results["variants"] if "error" not in r}
    out = []
    for key, row in rows.items():
        base = rows.get(f"{row['format']}-fp32")
        if base is None or key == base["variant"]:
            continue
        mine, theirs = run_of(row, threads, batch), run_of(base, threads, batch)
        if mine and theirs:
            out.append({"variant": key, "against": base["variant"], "threads": threads, "batch": batch,
                        "speedup": theirs["latency_ms"]["p50"] / mine["latency_ms"]["p50"],
                        "size_ratio": row["size"] / base["size"]})
    return out


def keras_ratios(results: dict[str, Any]) -> None:
    """Add to each variant its speed-up over Keras per batch, and its cold start and memory against Keras'."""
    keras = results["keras"]
    if not keras.get("available"):
        return
    by_batch = {r["batch"]: r for r in keras["runs"]}
    for row in results["variants"]:
        ratios: dict[str, Any] = {"by_batch": []}
        for batch, k in sorted(by_batch.items()):
            run = run_of(row, keras["threads"], batch)
            if run:
                p50 = run["latency_ms"]["p50"]
                ratios["by_batch"].append({"batch": batch, "speedup_vs_call": k["call_ms"]["p50"] / p50,
                                           "speedup_vs_predict": k["predict_ms"]["p50"] / p50})
        cold, kcold = row.get("cold_start") or {}, keras["cold_start"]
        if "seconds" in cold:
            ratios["cold_start_ratio"] = cold["seconds"] / kcold["seconds"]
            ratios["memory_ratio"] = cold["peak_rss_bytes"] / kcold["peak_rss_bytes"]
        row["vs_keras"] = ratios


def run_bench(bundle: str | os.PathLike, options: BenchOptions | None = None) -> dict[str, Any]:
    """Benchmark the bundle's variants; with `options.recommend`, write the fastest passing one into the
    manifest's `recommended` (see the module doc)."""
    options = options or BenchOptions()
    options.check()
    options = replace(options, threads=list(dict.fromkeys(options.threads)), batches=sorted(set(options.batches)))
    bundle = Path(bundle)
    if not bundle.is_dir():
        raise UsageError(f"{bundle} is not a bundle directory: bench takes an exported bundle (with manifest.json)")
    manifest = read_manifest(bundle)
    artifacts = select(manifest, options.variants)
    batches = options.batches
    with tempfile.TemporaryDirectory(prefix="edgeport-bench-") as work:
        inputs = make_inputs(bundle, manifest, artifacts[0], batches, options.texts, work=Path(work),
                             images=options.images)
        results: dict[str, Any] = {
            "schema": SCHEMA, "created": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "bundle": str(bundle), "task": manifest.task, "kind": manifest.kind, "machine": machine(),
            "settings": {"threads": list(options.threads), "batches": batches, "repeats": options.repeats,
                         "warmup": options.warmup, "min_time_s": options.min_time_s, "inputs": inputs.description,
                         "tie": TIE, **options.extra},
        }
        x_file = Path(work) / "x.npy"
        np.save(x_file, inputs.first(batches[0])[:1])
        results["variants"] = [bench_variant(bundle, a, inputs, options, manifest.kind, x_file) for a in artifacts]
    results["keras"] = ({"available": False, "reason": "not asked for (--no-keras)"} if not options.keras else
                        keras_baseline(bundle, {b: inputs.first(b) for b in batches}, min(options.threads),
                                       options.repeats, options.warmup, manifest.source_model))
    keras_ratios(results)
    results["comparisons"] = comparisons(results)
    key, reason = recommend(results)
    results["recommended"] = {"variant": key, "reason": reason, "written": False}
    if options.recommend and key is not None:
        current = read_manifest(bundle)  # re-read: written over only the two fields this decides
        write_manifest(bundle, replace(current, recommended=key, recommended_reason=reason))
        results["recommended"]["written"] = True
    return results
