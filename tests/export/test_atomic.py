"""Writes are atomic: an export interrupted part-way leaves no file that passes the hash check."""

import pathlib

import pytest

from edgeport import runtime
from edgeport.export.bundle import export_bundle
from edgeport.export.job import ExportOptions
from edgeport.runtime.atomic_files import atomic_output
from edgeport.runtime.errors import ManifestError
from edgeport.runtime.manifest import read_manifest, verify_artifact

from .conftest import CALIBRATION_SAMPLES


def leftovers(directory):
    return sorted(p.name for p in directory.rglob("*") if ".tmp" in p.name)


def test_atomic_output_renames_on_success_and_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "model.fp32.tflite"
    with atomic_output(target) as tmp:
        assert tmp.parent == tmp_path and tmp != target
        tmp.write_bytes(b"whole")
    assert target.read_bytes() == b"whole"
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            tmp.write_bytes(b"ha")
            raise RuntimeError("interrupted")
    assert target.read_bytes() == b"whole" and leftovers(tmp_path) == []
    with pytest.raises(OSError, match="no data"):
        with atomic_output(tmp_path / "empty.onnx"):
            pass
    assert not (tmp_path / "empty.onnx").exists() and leftovers(tmp_path) == []


class Interrupt(BaseException):
    """Stands for Ctrl-C or a kill: not an error export may catch."""


def interrupt_on_write(monkeypatch, stem: str, exc: BaseException):
    """Make the first write of the model file `stem` (`model.fp16`) put down half its bytes, then raise `exc`."""
    real = pathlib.Path.write_bytes
    seen = []

    def write_bytes(self, data):
        if self.name.startswith(f".{stem}.") and ".tmp" in self.name and not seen:
            seen.append(self.name)
            real(self, data[: len(data) // 2])
            raise exc
        return real(self, data)

    monkeypatch.setattr(pathlib.Path, "write_bytes", write_bytes)


def test_interrupted_reexport_leaves_the_old_bundle_whole(small_imdb, monkeypatch):
    bundle, data = small_imdb
    export_bundle(bundle,
                  ExportOptions(variants=["tflite-fp32", "tflite-fp16"], calibration_samples=CALIBRATION_SAMPLES, measure_latency=False),
                  task_data=data)
    before = {p.name: p.read_bytes() for p in bundle.iterdir() if p.is_file()}
    interrupt_on_write(monkeypatch, "model.fp16", Interrupt())  # re-export: the fp16 write is cut half-way
    with pytest.raises(Interrupt):
        export_bundle(bundle, ExportOptions(calibration_samples=CALIBRATION_SAMPLES, measure_latency=False), task_data=data)
    assert {p.name: p.read_bytes() for p in bundle.iterdir() if p.is_file()} == before  # not a byte changed
    assert leftovers(bundle) == [] and [p.name for p in bundle.parent.iterdir() if p.name.startswith(".")] == []
    for key in ("tflite-fp32", "tflite-fp16"):
        runtime.load(bundle, variant=key)
    with pytest.raises(ManifestError, match="no variant 'tflite-int8'"):
        runtime.load(bundle, variant="tflite-int8")


def test_first_export_interrupted_leaves_no_manifest_and_no_partial_file(small_imdb, monkeypatch):
    bundle, data = small_imdb
    interrupt_on_write(monkeypatch, "model.dynamic-int8", Interrupt())  # tflite-dynamic-int8 is cut half-way
    with pytest.raises(Interrupt):
        export_bundle(bundle, ExportOptions(calibration_samples=CALIBRATION_SAMPLES, measure_latency=False), task_data=data)
    assert sorted(p.name for p in bundle.glob("model.*")) == []  # the staged files went with the staging directory
    assert leftovers(bundle) == [] and not (bundle / "manifest.json").exists()
    with pytest.raises(ManifestError):
        runtime.load(bundle)


def test_a_failed_write_fails_that_variant_only(small_imdb, monkeypatch):
    bundle, data = small_imdb
    interrupt_on_write(monkeypatch, "model.fp16", OSError("disk full"))
    options = ExportOptions(variants=["tflite-fp32", "tflite-fp16", "onnx-fp32"], calibration_samples=CALIBRATION_SAMPLES,
                            measure_latency=False)
    result = export_bundle(bundle, options, task_data=data)
    assert result.failed == ["tflite-fp16"]
    failed = next(o for o in result.outcomes if o.variant.key == "tflite-fp16")
    assert failed.artifact is None and "disk full" in failed.error
    assert not (bundle / "model.fp16.tflite").exists() and leftovers(bundle) == []
    manifest = read_manifest(bundle)
    assert [a.key for a in manifest.artifacts] == ["tflite-fp32", "onnx-fp32"]
    for artifact in manifest.artifacts:
        verify_artifact(bundle, artifact)
    assert "tflite-fp16: export failed: OSError: disk full" in (bundle / "report.md").read_text()


def test_reexport_keeps_verified_artifacts_of_the_same_model(small_imdb):
    bundle, data = small_imdb
    export_bundle(bundle, ExportOptions(variants=["tflite-fp32"], measure_latency=False), task_data=data)
    result = export_bundle(bundle, ExportOptions(variants=["onnx-fp32"], measure_latency=False), task_data=data)
    assert [a.key for a in result.manifest.artifacts] == ["tflite-fp32", "onnx-fp32"]
    assert "tflite-fp32 kept from an earlier export" in (bundle / "report.md").read_text()
