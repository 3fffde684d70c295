"""`edgeport-run` / `python -m edgeport.runtime`: info and predict, text and JSON output, exit codes."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeport.runtime import cli
from tests.runtime.conftest import TFLITE_ENGINE, expected, run_cli


def test_info_text_and_json(text_topics):
    done = run_cli("info", text_topics)
    assert done.returncode == 0, done.stderr
    assert "topics (text)" in done.stdout and "tflite-dynamic-int8" in done.stdout
    assert f"loaded       tflite-fp32 on {TFLITE_ENGINE}" in done.stdout
    done = run_cli("info", text_topics, "--json", "--variant", "onnx-fp32", "--threads", "1")
    info = json.loads(done.stdout)
    assert info["variant"] == "onnx-fp32" and info["backend"] == "onnxruntime" and info["threads"] == 1
    assert [v["variant"] for v in info["variants"]] == ["tflite-fp32", "tflite-dynamic-int8", "onnx-fp32"]


def test_predict_texts_and_text_file(text_binary, tmp_path):
    reviews = tmp_path / "reviews (2).txt"
    reviews.write_text("A great, fun film!\n\nDull and far too long: boring.\n")
    done = run_cli("predict", text_binary, "--json", "It's a wonderful story", reviews)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["variant"] == "tflite-fp32" and result["backend"] == TFLITE_ENGINE
    rows = result["results"]
    assert [r["input"] for r in rows] == ["It's a wonderful story", "reviews (2).txt:1", "reviews (2).txt:3"]
    assert [r["label"] for r in rows] == ["positive", "positive", "negative"]
    for r in rows:
        assert sum(r["probabilities"].values()) == pytest.approx(1.0)
        assert r["score"] == pytest.approx(r["probabilities"][r["label"]])
    table = run_cli("predict", text_binary, "--variant", "onnx-fp32", "bad bad bad")
    assert table.returncode == 0
    assert table.stdout.splitlines()[0].split() == ["input", "label", "score"]
    assert table.stdout.splitlines()[1].split()[-2] == "negative"


def test_a_text_bundle_warns_once_per_image_or_binary_path_and_still_answers(text_binary, tmp_path):
    (tmp_path / "cat.JPG").write_bytes(b"\xff\xd8\xff\xe0 a photo")
    (tmp_path / "blob.dat").write_bytes(b"abc\0def")
    (tmp_path / "notes.md").write_text("a great film")
    done = run_cli("predict", text_binary, tmp_path / "cat.JPG", tmp_path / "blob.dat", tmp_path / "notes.md", "great")
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 2 and "cat.JPG is an image file" in warnings[0] and "blob.dat is a binary file" in warnings[1]
    assert all("classifies the words of its path" in w for w in warnings)
    assert len(done.stdout.splitlines()) == 5  # the header and four answers


def test_predict_image_folder(models_dir, image_bundle, tmp_path):
    folder = tmp_path / "my photos"
    shutil.copytree(models_dir / "images", folder / "nested [x]")
    done = run_cli("predict", image_bundle, "--json", folder)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)["results"]
    assert [Path(r["input"]).name for r in rows] == sorted(p.name for p in (models_dir / "images").glob("*.*g"))
    by_name = {Path(r["input"]).name: r["label"] for r in rows}
    assert by_name["cat (a).png"] == "cats" and by_name["dog [copy].png"] == "dogs"
    assert by_name["horse=1 (b).jpg"] == "horses"


def test_predict_bare_model_on_npy(text_binary, tmp_path):
    x, y = expected(text_binary)
    np.save(tmp_path / "batch.npy", x)
    done = run_cli("predict", text_binary / "model.fp32.onnx", "--json", tmp_path / "batch.npy")
    assert done.returncode == 0, done.stderr
    np.testing.assert_allclose(json.loads(done.stdout)[0]["outputs"], y, atol=1e-5)


def test_internal_failure_exits_1_without_traceback(monkeypatch, capsys, text_binary):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(cli.runtime, "load", broken)
    assert cli.main(["predict", str(text_binary), "x"]) == cli.EXIT_INTERNAL
    err = capsys.readouterr().err
    assert "internal error: boom" in err and "EDGEPORT_DEBUG" in err and "Traceback" not in err


def test_console_script_is_installed(text_binary):
    script = Path(sys.executable).with_name("edgeport-run")
    if not script.exists():
        pytest.skip("edgeport-run is not installed in this environment")
    import subprocess

    done = subprocess.run([str(script), "predict", str(text_binary), "great fun"], capture_output=True, text=True)
    assert done.returncode == 0 and "positive" in done.stdout
