"""The real IMDB subset end to end: train (seconds), export all seven variants, each within its tolerance."""

import os
from pathlib import Path

import pytest

from edgeport.export.cli import main
from edgeport.export.summary import summary
from edgeport.runtime.manifest import read_manifest

DATA_DIR = os.environ.get("EDGEPORT_DATA_DIR")
pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(not DATA_DIR or not (Path(DATA_DIR) / "imdb_subset.npz").is_file(),
                       reason="needs EDGEPORT_DATA_DIR with imdb_subset.npz"),
]


def test_imdb_trains_and_exports_every_variant(tmp_path, capsys):
    from edgeport.train.loop import train_task
    from edgeport.train.recipes import IMDB

    bundle = tmp_path / "imdb"
    train_task(IMDB, bundle, data_dir=DATA_DIR, verbose=0)
    assert main([str(bundle), "--calibration-samples", "200"]) == 0  # the bundle carries its data
    out = capsys.readouterr().out
    assert "[7/7] onnx-static-int8" in out and "all 7 variants passed" in out
    manifest = read_manifest(bundle)
    assert [a.status for a in manifest.artifacts] == ["passed"] * 7
    assert all(a.parity["samples"] == 1000 for a in manifest.artifacts)
    assert manifest.artifact("tflite-int8").parity["keras_spread"] > 0.05
    (block,) = summary(tmp_path)
    assert block.startswith("== imdb (all 7 passed") and block.count("| passed |") == 7
