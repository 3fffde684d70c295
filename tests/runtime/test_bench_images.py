"""`edgeport-run bench` on an image bundle: image files end to end beside the tensor path and the decode
plus the engine; for a quantised input, the float path and the pixel table side by side. No timing
thresholds: only that every figure is there and consistent."""

from __future__ import annotations

import pytest

from edgeport.runtime.bench.report import render_text
from edgeport.runtime.bench.runner import BenchOptions, run_bench
from edgeport.runtime.errors import UsageError

QUICK = dict(threads=(1,), batches=(1, 2), repeats=5, warmup=1, min_time_s=0.0, keras=False, cold_start=False,
             variants=("tflite-fp32", "tflite-int8"))


def test_image_files_are_timed_beside_tensors(image_int8io, copy_bundle):
    results = run_bench(copy_bundle(image_int8io), BenchOptions(**QUICK))  # its tflite-int8 has an int8 input
    assert "image files: 8 synthetic 640x480 JPEG photos" in results["settings"]["inputs"]
    fp32, int8 = results["variants"]
    for row in (fp32, int8):
        for run in row["runs"]:
            assert run["files_ms"]["p50"] > 0 and run["decode_ms"]["p50"] > 0
            assert run["files_items_s"] == pytest.approx(1000 * run["batch"] / run["files_ms"]["p50"])
            assert run["files_over_decode_engine"] == pytest.approx(
                run["files_ms"]["p50"] / (run["decode_ms"]["p50"] + run["engine_ms"]["p50"]))
            assert run["files_over_tensor"] == pytest.approx(run["files_ms"]["p50"] / run["latency_ms"]["p50"])
    assert all("table_ms" not in run and "files_float_ms" not in run for run in fp32["runs"])  # float input
    for run in int8["runs"]:  # int8 input: the table and the float path, side by side
        assert run["table_speedup"] == pytest.approx(run["float_quantize_ms"]["p50"] / run["table_ms"]["p50"])
        assert run["files_float_over_decode_engine"] == pytest.approx(
            run["files_float_ms"]["p50"] / (run["decode_ms"]["p50"] + run["engine_ms"]["p50"]))
    text = render_text(results)
    assert "image files end to end" in text and "table speed-up" in text


def test_photos_of_a_folder_are_used_when_named(image_bundle, copy_bundle, models_dir, tmp_path):
    options = BenchOptions(**{**QUICK, "variants": ("tflite-int8",), "batches": (2,)}, images=str(models_dir / "images"))
    bundle = copy_bundle(image_bundle)
    results = run_bench(bundle, options)
    assert f"4 photos of {models_dir / 'images'}" in results["settings"]["inputs"]
    assert results["variants"][0]["runs"][0]["files_ms"]["p50"] > 0
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no image files"):
        run_bench(bundle, BenchOptions(**{**QUICK, "images": str(tmp_path / "empty")}))
