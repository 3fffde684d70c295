"""Export recommends by the shared policy on raw-engine latency measured side by side at export."""

from pathlib import Path

import numpy as np
import pytest

from edgeport.export.assemble import recommend_variant
from edgeport.export.latency import engine_latencies
from edgeport.runtime.manifest import Artifact


def artifact(key: str, status: str, size: int, engine_ms: float | None, accuracy: float = 0.9) -> Artifact:
    fmt, variant = key.split("-", 1)
    parity = {"accuracy": accuracy, "latency_ms_median": 9.0, "engine_latency_ms_median": engine_ms}
    return Artifact(fmt, variant, f"model.{variant}.{fmt}", "0" * 64, size, [], [], status=status, parity=parity)


def test_export_recommends_the_fastest_passing_variant():
    artifacts = [artifact("tflite-fp32", "passed", 1_000_000, 1.25), artifact("tflite-dynamic-int8", "passed", 300_000, 1.73),
                 artifact("tflite-int8", "passed", 330_000, 1.19), artifact("onnx-static-int8", "failed", 320_000, 0.8)]
    key, reason = recommend_variant(artifacts)
    assert key == "tflite-int8"  # not the smallest (dynamic-int8), not the failed faster one
    assert "1.190 ms" in reason and "raw engine, interleaved, measured by edgeport-export on" in reason
    assert "faster but not passed: onnx-static-int8" in reason


def test_without_latency_the_smallest_passing_file():
    artifacts = [artifact("tflite-fp32", "passed", 1_000_000, None), artifact("tflite-int8", "passed", 330_000, None)]
    key, reason = recommend_variant(artifacts)
    assert key == "tflite-int8" and "latency not measured" in reason
    assert recommend_variant([artifact("tflite-int8", "failed", 1, 1.0)]) == (None, None)


def test_engine_latencies_time_each_file(tmp_path):
    pytest.importorskip("onnx")
    from tests.runtime.test_onnx_saturation import K, saturating_model

    files = {}
    for key in ("onnx-a", "onnx-b"):
        files[key] = tmp_path / f"{key}.onnx"
        files[key].write_bytes(saturating_model())
    (tmp_path / "broken.onnx").write_bytes(b"not a model")
    files["onnx-broken"] = Path(tmp_path / "broken.onnx")
    got = engine_latencies(files, dict.fromkeys(files, np.full((3, K), 6.0, np.float32)), repeats=5, min_time_s=0.01)
    assert set(got) == {"onnx-a", "onnx-b"}  # the broken file is left out, the others timed
    assert all(0 < ms < 100 for ms in got.values())
