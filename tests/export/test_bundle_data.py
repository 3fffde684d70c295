"""Export reads its test and calibration data from the bundle alone, and never imports the training code."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeport.export.bundle import ExportError, export_bundle

from edgeport.export.job import ExportOptions

EXPORT_DIR = Path(__file__).resolve().parents[2] / "export"


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_export_never_imports_train():
    files = sorted(EXPORT_DIR.glob("**/*.py"))
    assert len(files) >= 10
    offending = {f.name: sorted(n for n in imported_modules(f) if n == "edgeport.train" or n.startswith("edgeport.train."))
                 for f in files}
    assert {k: v for k, v in offending.items() if v} == {}


def test_export_cli_runs_without_the_training_package_importable(small_imdb, tmp_path):
    """A stand-in `edgeport.train` that raises on import proves no code path of export loads it."""
    bundle, _ = small_imdb
    code = (
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'edgeport.train' or name.startswith('edgeport.train.'):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from edgeport.export.cli import main\n"
        f"sys.exit(main([{str(bundle)!r}, '--variants', 'tflite-fp32', '--no-latency']))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "EDGEPORT_DATA_DIR"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "all 1 variants passed" in result.stdout


def test_train_writes_test_and_calibration_data_with_their_hashes(small_imdb):
    bundle, data = small_imdb
    task = json.loads((bundle / "keras" / "task.json").read_text())
    with np.load(bundle / "keras" / "test.npz") as test:
        np.testing.assert_array_equal(test["x"], data.x_test)
        np.testing.assert_array_equal(test["y"], data.y_test)
    with np.load(bundle / "keras" / "calibration.npz") as calibration:
        x = calibration["x"]
    # every calibration row is a training row
    rows = {r.tobytes() for r in np.asarray(data.x_train)}
    assert len(x) == min(1000, len(data.x_train)) and all(r.tobytes() in rows for r in x)
    assert task["data"]["test"]["samples"] == len(data.x_test) and len(task["data"]["test"]["sha256"]) == 64


def test_a_bundle_without_its_data_says_to_retrain(small_imdb):
    bundle, _ = small_imdb
    task_file = bundle / "keras" / "task.json"
    task = json.loads(task_file.read_text())
    del task["data"]
    task_file.write_text(json.dumps(task))
    with pytest.raises(ExportError, match="trained before bundles carried their test and calibration data.*train it again"):
        export_bundle(bundle, ExportOptions(variants=["tflite-fp32"], measure_latency=False))


def test_changed_test_data_is_refused(small_imdb):
    bundle, _ = small_imdb
    path = bundle / "keras" / "test.npz"
    with np.load(path) as test:
        x, y = test["x"], test["y"]
    np.savez(path, x=x, y=1 - y)
    with pytest.raises(ExportError, match="has changed since training"):
        export_bundle(bundle, ExportOptions(variants=["tflite-fp32"], measure_latency=False))


def test_missing_calibration_file_is_named(small_imdb):
    bundle, _ = small_imdb
    (bundle / "keras" / "calibration.npz").unlink()
    with pytest.raises(ExportError, match="calibration data .*calibration.npz is missing"):
        export_bundle(bundle, ExportOptions(variants=["tflite-fp32"], measure_latency=False))
