"""`edgeport-export`: a line per variant, the summary table, exit codes, and clear errors without tracebacks."""

import subprocess
import sys

import pytest

from edgeport.export import bundle as bundle_module
from edgeport.export import tflite as tflite_module
from edgeport.export.cli import main


@pytest.fixture
def cli_bundle(small_imdb):
    """The small imdb bundle (it carries its synthetic test and calibration data, as train writes them)."""
    bundle, _ = small_imdb
    return bundle


def test_exports_prints_progress_and_table(cli_bundle, capsys):
    assert main([str(cli_bundle), "--variants", "tflite-fp32,onnx-dynamic-int8", "--calibration-samples", "32", "--no-latency"]) == 0
    out = capsys.readouterr().out
    assert "[1/2] tflite-fp32" in out and "[2/2] onnx-dynamic-int8" in out
    assert "| format | variant | size (bytes) |" in out and "| onnx | dynamic-int8 |" in out
    assert "all 2 variants passed" in out
    assert "\nrecommended: onnx-dynamic-int8 (the smallest artifact that passed its checks" in out  # --no-latency
    assert (cli_bundle / "manifest.json").is_file() and (cli_bundle / "model.dynamic-int8.onnx").is_file()


def test_model_path_and_formats_select(cli_bundle, capsys):
    assert main([str(cli_bundle / "keras" / "model.keras"), "--formats", "onnx", "--variants", "fp32", "--no-latency"]) == 0
    out = capsys.readouterr().out
    assert "[1/1] onnx-fp32" in out and "tflite" not in out.split("\n\n")[0]


def test_failed_variant_exits_1_unless_allowed(cli_bundle, capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("converter refused the graph")

    monkeypatch.setattr(tflite_module, "export_tflite", broken)
    argv = [str(cli_bundle), "--variants", "tflite-fp16,onnx-fp32", "--no-latency"]
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "[1/2] tflite-fp16" in out and "FAILED" in out and "converter refused the graph" in out
    assert "1 variant(s) failed: tflite-fp16 (exit status 1)" in out
    assert main(argv + ["--allow-failures"]) == 0
    assert "allowed by --allow-failures" in capsys.readouterr().out


def test_multi_line_converter_error_kept_whole_in_report_traceback_with_verbose(cli_bundle, capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("converter could not lower the graph:\n  op FooBar at dense_1/MatMul: unsupported\n"
                         "  hint: enable select ops")

    monkeypatch.setattr(tflite_module, "export_tflite", broken)
    argv = [str(cli_bundle), "--variants", "tflite-fp16,onnx-fp32", "--no-latency", "--allow-failures"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("[1/2] tflite-fp16"))
    assert "ValueError: converter could not lower the graph:" in line and "[…]" in line
    assert "Traceback" not in out and "--verbose prints where the conversion failed" in out
    report = (cli_bundle / "report.md").read_text()
    failure = report.split("## Failures", 1)[1]
    assert "- tflite-fp16: export failed: ValueError: converter could not lower the graph:" in failure
    assert "op FooBar at dense_1/MatMul: unsupported" in failure and "hint: enable select ops" in failure
    assert main(argv + ["--verbose"]) == 0
    out = capsys.readouterr().out
    assert "Traceback (most recent call last)" in out and "in broken" in out
    assert "hint: enable select ops" in out and "--verbose prints" not in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["{tmp}"], "no Keras model at"),
        (["{tmp}/missing"], "does not exist"),
        (["{tmp}/notes.txt"], "neither a bundle directory nor a .keras model file"),
        (["{tmp}", "--variants", "int4"], "unknown variant int4"),
        (["{tmp}", "--formats", "coreml"], "unknown format coreml"),
    ],
)
def test_clear_errors_without_traceback(tmp_path, capsys, argv, message):
    (tmp_path / "notes.txt").write_text("not a model")
    assert main([a.format(tmp=tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("edgeport-export: ") and message in err and "Traceback" not in err


def test_bundle_without_task_file(tmp_path, capsys):
    (tmp_path / "keras").mkdir()
    (tmp_path / "keras" / "model.keras").write_bytes(b"PK")
    assert main([str(tmp_path)]) == 2
    assert "no keras/task.json" in capsys.readouterr().err


def test_bad_calibration_samples_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path), "--calibration-samples", "0"])
    assert exit_info.value.code == 2 and "--calibration-samples must be at least 1" in capsys.readouterr().err


def test_python_dash_m_export(tmp_path):
    done = subprocess.run([sys.executable, "-m", "edgeport.export", str(tmp_path / "missing")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "edgeport-export: " in done.stderr and "Traceback" not in done.stderr
    done = subprocess.run([sys.executable, "-m", "edgeport.export", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "--calibration-samples" in done.stdout and "--allow-failures" in done.stdout


def test_an_artifact_the_runtime_cannot_run_is_listed_failed(cli_bundle, capsys, monkeypatch):
    def crash(*args, **kwargs):
        raise RuntimeError("engine crashed")

    monkeypatch.setattr(bundle_module, "validate_artifact", crash)
    assert main([str(cli_bundle), "--variants", "onnx-fp32", "--no-latency"]) == 1
    assert "[1/1] onnx-fp32" in capsys.readouterr().out
    from edgeport.runtime.manifest import read_manifest

    artifact = read_manifest(cli_bundle).artifact("onnx-fp32")
    assert artifact.status == "failed" and "the runtime could not run it: RuntimeError: engine crashed" in artifact.parity["failures"][0]
    assert "| onnx | fp32 |" in (cli_bundle / "report.md").read_text()


def test_summary_prints_each_bundles_table(exported, tmp_path, capsys):
    import shutil

    from edgeport.export.summary import main as summary_main

    shutil.copytree(exported("imdb").bundle, tmp_path / "imdb")
    (tmp_path / "untrained").mkdir()
    assert summary_main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("== imdb (all 7 passed") and out.count("| passed |") == 7
    assert summary_main([str(tmp_path / "untrained")]) == 1
