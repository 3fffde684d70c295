"""`edgeport-run bench`: every figure present and sane, a real fresh process for the cold start, the
recommended variant, the report section; and the runtime's fast paths equal their plain formulas.
Never a timing threshold: those are `make bench`'s to report."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from edgeport import runtime
from edgeport.runtime.bench.runner import BenchOptions, recommend, run_bench
from edgeport.runtime.bench.keras import keras_baseline
from edgeport.runtime.bench.report import BEGIN, END, render_text
from edgeport.runtime.manifest import read_manifest
from edgeport.runtime.preprocess import TextPreprocessor
from edgeport.runtime.manifest import TensorSpec
from edgeport.runtime.quant import from_engine, quantize
from tests.runtime.conftest import HAS_TF, manifest_doc, run_cli, run_python, write_manifest_doc

QUICK = dict(threads=(1,), batches=(1, 4), repeats=12, warmup=1, min_time_s=0.0, keras=False)


def _stats_ok(stats: dict) -> None:
    assert 0 < stats["min"] <= stats["p50"] <= stats["p90"] <= stats["p99"] <= stats["max"]
    assert stats["min"] <= stats["mean"] <= stats["max"] and stats["samples"] >= 12


def _set_status(bundle: Path, statuses: dict[str, str]) -> None:
    doc = manifest_doc(bundle)
    for artifact in doc["artifacts"]:
        artifact["status"] = statuses.get(f"{artifact['format']}-{artifact['variant']}", artifact["status"])
    doc["recommended"] = None
    write_manifest_doc(bundle, doc)


def test_bench_json_has_every_figure(text_binary, copy_bundle):
    bundle = copy_bundle(text_binary)
    before = read_manifest(bundle).recommended
    results = json.loads(json.dumps(run_bench(bundle, BenchOptions(**QUICK))))  # JSON-clean
    assert results["schema"] == "edgeport-bench/1" and results["task"] == "sentiment" and results["kind"] == "text"
    m = results["machine"]
    assert m["cpu"] and m["cores"] >= 1 and m["python"] and m["packages"]["numpy"]
    assert ("ai-edge-litert" in m["packages"]) or ("tflite-runtime" in m["packages"])
    assert results["settings"]["threads"] == [1] and results["settings"]["batches"] == [1, 4]
    keys = [v["variant"] for v in results["variants"]]
    assert keys == [a.key for a in read_manifest(bundle).artifacts]
    for row in results["variants"]:
        assert "error" not in row, row
        assert row["size"] == (bundle / row["file"]).stat().st_size
        assert row["load_s"] > 0 and row["first_inference_s"] > 0 and row["backend_version"]
        assert [(r["threads"], r["batch"]) for r in row["runs"]] == [(1, 1), (1, 4)]
        for run in row["runs"]:
            for name in ("latency_ms", "engine_ms", "raw_ms"):
                _stats_ok(run[name])
            assert run["throughput_items_s"] == pytest.approx(1000 * run["batch"] / run["latency_ms"]["p50"])
            assert run["engine_items_s"] > 0 and run["raw_items_s"] > 0
            assert run["overhead_ratio"] > 0 and run["raw_over_engine"] > 0 and run["raw_over_tensor"] > 0
        cold = row["cold_start"]
        assert cold["pid"] != os.getpid() and cold["peak_rss_bytes"] > 10 * 2**20
        assert 0 < cold["import_s"] < cold["seconds"] < cold["process_wall_s"]
        assert cold["load_s"] > 0 and cold["first_prediction_s"] > 0 and cold["backend"] == row["backend"]
    assert results["keras"] == {"available": False, "reason": "not asked for (--no-keras)"}
    [comparison] = results["comparisons"]
    assert comparison["variant"] == "tflite-int8" and comparison["against"] == "tflite-fp32"
    assert comparison["size_ratio"] == pytest.approx(results["variants"][1]["size"] / results["variants"][0]["size"])
    rec = results["recommended"]
    assert not rec["written"] and rec["variant"] in keys and "parity check" in rec["reason"]
    assert read_manifest(bundle).recommended == before  # measured and recorded, not written unless asked
    assert "latency at batch 1, 1 thread" in render_text(results)


def test_cli_bench_writes_json_table_and_report_section(image_int8io, copy_bundle, tmp_path):
    bundle = copy_bundle(image_int8io)  # its tflite-int8 quantises a float input
    (bundle / "report.md").write_text("# pets: export report\n\nexport's table\n")
    out = tmp_path / "bench.json"
    args = ["bench", bundle, "--variants", "tflite-fp32,tflite-int8", "--threads", "1", "--batch", "1,2",
            "--repeats", "12", "--warmup", "1", "--min-time", "0", "--no-keras", "--no-cold-start"]
    _set_status(bundle, {})  # the manifest recommends nothing
    for extra in ([], ["--recommend"]):  # a second bench replaces its section, and keeps export's report
        done = run_cli(*args, *extra, "--json", out)
        assert done.returncode == 0, done.stderr[-3000:]
        recommended = read_manifest(bundle).recommended
        assert recommended == (json.loads(out.read_text())["recommended"]["variant"] if extra else None)
    assert recommended in ("tflite-fp32", "tflite-int8")
    assert "latency at batch 1, 1 thread" in done.stdout and "tflite-int8" in done.stdout
    results = json.loads(out.read_text())
    assert [v["variant"] for v in results["variants"]] == ["tflite-fp32", "tflite-int8"]
    assert all("cold_start" not in v for v in results["variants"])
    int8 = results["variants"][1]["runs"]
    assert all(run["ready_overhead_ratio"] > 0 and run["ready_ms"]["p50"] > 0 for run in int8)  # int8 input
    assert all("ready_ms" not in run for run in results["variants"][0]["runs"])  # float input: nothing to quantise
    report = (bundle / "report.md").read_text()
    assert report.startswith("# pets: export report\n\nexport's table\n")
    assert report.count(BEGIN) == 1 and report.count(END) == 1 and "## Benchmark" in report
    plot = bundle / "report_bench.png"
    assert ("report_bench.png" in report) == plot.is_file()
    if plot.is_file():
        assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = run_cli("bench", bundle, "--threads", "0")
    assert bad.returncode == 2 and "positive" in bad.stderr


def _results(rows):
    return {"settings": {"threads": [1, 2], "batches": [1, 8]}, "machine": {"cpu": "test CPU"},
            "created": "2026-01-01T00:00:00", "variants": [
                {"variant": key, "status": status, "size": size, "accuracy": 0.9,
                 "runs": [{"threads": 1, "batch": 1, "latency_ms": {"p50": p50}},
                          {"threads": 2, "batch": 1, "latency_ms": {"p50": p50 / 10 if key == "slow" else p50}}]}
                for key, status, size, p50 in rows]}


def test_recommend_fastest_passing_never_a_failed_one():
    rows = [("fast-but-failed", "failed", 100, 0.5), ("unchecked", "unchecked", 100, 0.6),
            ("second", "passed", 5000, 1.0), ("slow", "passed", 10, 3.0)]
    key, reason = recommend(_results(rows))
    assert key == "second"  # by batch 1, 1 thread: "slow" is fastest at 2 threads only
    assert "fast-but-failed" in reason and "1.000 ms" in reason
    key, reason = recommend(_results([("big", "passed", 9000, 1.00), ("small", "passed", 3000, 1.02)]))
    assert key == "small" and "smaller file" in reason  # within the tie margin
    assert recommend(_results([("big", "passed", 9000, 1.0), ("small", "passed", 3000, 1.5)]))[0] == "big"
    assert recommend(_results([("a", "failed", 1, 1.0)]))[0] is None


def test_bench_marks_only_a_passing_variant(text_topics, copy_bundle):
    bundle = copy_bundle(text_topics)
    _set_status(bundle, {"tflite-fp32": "failed", "tflite-dynamic-int8": "failed"})
    results = run_bench(bundle, BenchOptions(**{**QUICK, "batches": (1,)}, cold_start=False, recommend=True))
    assert results["recommended"]["variant"] == "onnx-fp32" and results["recommended"]["written"]
    assert read_manifest(bundle).recommended == "onnx-fp32"
    info = runtime.load(bundle).info()
    assert info["variant"] == "onnx-fp32" and info["selected_because"].startswith("the manifest's recommended")
    assert "parity check" in info["selected_because"]
    assert runtime.load(bundle, variant="onnx-fp32").info()["selected_because"] == "named by variant='onnx-fp32'"
    _set_status(bundle, {"onnx-fp32": "failed"})
    assert run_bench(bundle, BenchOptions(**{**QUICK, "batches": (1,)}, cold_start=False,
                                          recommend=True))["recommended"]["variant"] is None
    assert read_manifest(bundle).recommended is None  # nothing passed: nothing written


def test_keras_baseline_is_skipped_or_measured(text_binary, copy_bundle):
    bundle = copy_bundle(text_binary)
    x = np.load(bundle / "expected.npz")["x"]
    if not HAS_TF:
        result = keras_baseline(bundle, {1: x[:1]}, 1, 5, 1)
        assert result["available"] is False and "not installed" in result["reason"]
        return
    model = bundle / "keras" / "model.keras"  # export's bundle keeps the Keras model it came from
    kept = model.read_bytes()
    model.unlink()
    assert "no Keras model" in keras_baseline(bundle, {1: x[:1]}, 1, 5, 1)["reason"]
    model.write_bytes(kept)
    result = keras_baseline(bundle, {1: x[:1], 3: x[:3]}, 1, 12, 1)
    assert result["available"], result
    cold = result["cold_start"]
    assert cold["pid"] != os.getpid() and cold["peak_rss_bytes"] > 100 * 2**20 and cold["import_s"] > 0
    assert [r["batch"] for r in result["runs"]] == [1, 3]
    for run in result["runs"]:
        _stats_ok(run["call_ms"])
        _stats_ok(run["predict_ms"])


def test_bench_modules_import_no_tensorflow():
    done = run_python("import sys, edgeport.runtime.bench.runner, edgeport.runtime.bench.keras, edgeport.runtime.bench.report\n"
                      "import edgeport.runtime.cli\n"
                      "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))")
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr


def _cut_and_pad(ids: list[int], maxlen: int, padding: str, truncating: str) -> list[int]:
    """Keras' `pad_sequences` for one sequence, written plainly."""
    kept = ids[-maxlen:] if truncating == "pre" else ids[:maxlen]
    pad = [0] * (maxlen - len(kept))
    return pad + kept if padding == "pre" else kept + pad


def test_fast_text_path_equals_plain_keras_pipeline():
    vocab = {w: i + 3 for i, w in enumerate(["the", "film", "it's", "great", "dull", "a", "plot", "far", "café"], start=1)}
    rng = np.random.default_rng(0)
    words = list(vocab) + ["zzz", "GREAT!", "--", "x,y", "  ", "\t", "a\x85b", "Café", ".", "The"]
    texts = ["".join(w + rng.choice([" ", "  ", ", ", "\n"]) for w in rng.choice(words, rng.integers(0, 90)))
             for _ in range(300)] + ["", "!!", "the", " " * 50, "the " * 200]
    specs = [{"padding": p, "truncating": t, "start_char": start, "maxlen": maxlen}
             for p in ("pre", "post") for t in ("pre", "post") for start in (1, None) for maxlen in (1, 4, 9, 30)]
    specs += [{"split": ",", "maxlen": 5}, {"split": "ab", "maxlen": 5}, {"lowercase": False, "maxlen": 6},
              {"filters": "é!", "maxlen": 7}]
    for spec in specs:
        text = TextPreprocessor({"num_words": 11, "skip_top": 1, **spec}, vocab)
        plain = [_cut_and_pad(text.token_ids(t), spec["maxlen"], text.spec["padding"], text.spec["truncating"])
                 for t in texts]
        np.testing.assert_array_equal(text(texts), plain, err_msg=str(spec))


def test_fast_quantize_equals_plain_formulas():
    rng = np.random.default_rng(1)
    for scale, zero_point, dtype in ((1 / 128, -3, "int8"), (0.0173, 131, "uint8"), (0.5, 0, "int16")):
        x = np.concatenate([rng.normal(0, 2, 400), np.arange(-80, 80) * scale / 2, [1e30, -1e30, 0.0, -0.0]])
        for rounding, plain in (
            ("reference", lambda: np.sign(x / scale) * np.floor(np.abs(x / scale) + 0.5)),
            ("xnnpack", lambda: np.rint(x.astype(np.float32) * (np.float32(1) / np.float32(scale))).astype(np.float64)),
            ("onnx", lambda: np.rint(x.astype(np.float32) / np.float32(scale)).astype(np.float64)),
        ):
            info = np.iinfo(dtype)
            expected = np.clip(plain() + zero_point, info.min, info.max).astype(dtype)
            np.testing.assert_array_equal(quantize(x, scale, zero_point, dtype, rounding), expected)
        if dtype != "int16":  # one-byte outputs are dequantised from a table: the same float32 bits
            q = np.arange(256, dtype=np.uint8).view(dtype).reshape(4, 64)[:, ::3]
            spec = TensorSpec("y", [None, 22], dtype, scale, zero_point)
            expected = (scale * (q.astype(np.float64) - zero_point)).astype(np.float32)
            np.testing.assert_array_equal(from_engine(q, spec).view(np.uint32), expected.view(np.uint32))
