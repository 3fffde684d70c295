"""`edgeport-run verify`: each variant's golden samples replayed on the engine installed here.

The bundles are copies of the runtime test bundles with golden samples added from Keras' own outputs
(tests/runtime/golden_bundles.py): honest for fp32 variants, which give them within 1e-4.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgeport.runtime import backends, cli
from edgeport.runtime.errors import UsageError
from edgeport.runtime.golden import golden_file
from edgeport.runtime.manifest import read_manifest
from edgeport.runtime.verify import CANNOT_RUN, DAMAGED, DIFFERS, MATCHES, NO_GOLDEN, NOT_CHECKED, verify_bundle
from tests.runtime.conftest import HAS_LITERT, HAS_TFLITE_RUNTIME, TFLITE_ENGINE, run_cli
from tests.runtime.golden_bundles import drop_variants, flip_byte, keras_golden, list_golden, strip_golden

ONNX_HERE = backends.installed(backends.ENGINES["onnxruntime"])
FP32 = ["tflite-fp32"] + (["onnx-fp32"] if ONNX_HERE else [])


@pytest.fixture
def golden_copy(copy_bundle):
    """A copy of a test bundle whose `keys` carry golden samples from Keras' outputs, and no others."""

    def make(bundle: Path, keys: list[str]) -> Path:
        copy = copy_bundle(bundle)
        strip_golden(copy)
        list_golden(copy, {key: keras_golden(copy, key) for key in keys})
        return copy

    return make


def verify_cli(capsys, *args: object) -> tuple[int, str]:
    """`edgeport-run verify ARGS` in this process: (exit status, stdout)."""
    code = cli.main(["verify", *map(str, args)])
    return code, capsys.readouterr().out


def verify_json(capsys, *args: object) -> tuple[int, dict]:
    code, out = verify_cli(capsys, *args, "--json")
    return code, json.loads(out)


def test_every_variant_matches_exit_0(text_binary, golden_copy):
    bundle = golden_copy(text_binary, FP32)
    drop_variants(bundle, FP32)  # tflite-int8 has no honest golden outputs here (no Keras-equal engine)
    done = run_cli("verify", bundle)  # the real entry point, in a fresh interpreter
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == f"{len(FP32)} variant{'s' if len(FP32) > 1 else ''} checked: {len(FP32)} "\
                        f"{'match' if len(FP32) > 1 else 'matches'}"
    row = next(line for line in lines if line.startswith("tflite-fp32 "))
    assert row.split()[1] == "matches" and "vs atol 0.0001" in row and TFLITE_ENGINE in row
    checks = verify_bundle(bundle)
    assert [(c.variant, c.verdict) for c in checks] == [(key, MATCHES) for key in FP32]
    for c in checks:
        assert c.max_abs_diff <= c.atol == pytest.approx(1e-4) and c.samples == 4
        assert c.output == read_manifest(bundle).artifact(c.variant).outputs[0].name


def test_image_variant_matches(image_bundle, golden_copy, capsys):
    bundle = golden_copy(image_bundle, ["tflite-fp32"])
    code, doc = verify_json(capsys, bundle, "--variant", "tflite-fp32")
    assert code == 0 and doc["passed"] is True
    (check,) = doc["variants"]
    assert check["verdict"] == MATCHES and check["engine"] == TFLITE_ENGINE and check["engine_version"]
    assert 0 <= check["max_abs_diff"] <= check["atol"] and check["samples"] == 4


def test_a_changed_byte_in_a_golden_file_is_damaged(text_binary, golden_copy, capsys):
    bundle = golden_copy(text_binary, ["tflite-fp32"])
    flip_byte(bundle / golden_file("tflite-fp32"), offset=200)
    code, out = verify_cli(capsys, bundle, "--variant", "tflite-fp32")
    assert code == 1
    assert out.splitlines()[0].split()[:2] == ["tflite-fp32", "damaged"]
    assert "sha256 of golden/tflite-fp32.npz" in out and "re-copy the bundle" in out
    (check,) = verify_bundle(bundle, variant="tflite-fp32")
    assert check.verdict == DAMAGED and check.max_abs_diff is None


def test_a_missing_golden_file_is_damaged(text_binary, golden_copy):
    bundle = golden_copy(text_binary, ["tflite-fp32"])
    (bundle / golden_file("tflite-fp32")).unlink()
    (check,) = verify_bundle(bundle, variant="tflite-fp32")
    assert check.verdict == DAMAGED and "golden/tflite-fp32.npz is missing" in check.detail


def test_a_damaged_model_file_is_reported_not_run(text_binary, golden_copy):
    bundle = golden_copy(text_binary, ["tflite-fp32"])
    flip_byte(bundle / read_manifest(bundle).artifact("tflite-fp32").file, offset=100)
    (check,) = verify_bundle(bundle, variant="tflite-fp32")
    assert check.verdict == DAMAGED and "sha256 of model.fp32.tflite" in check.detail
    assert check.engine is None


def test_outputs_beyond_atol_differ_naming_output_and_amount(text_binary, golden_copy, capsys):
    bundle = golden_copy(text_binary, ["tflite-fp32"])
    inputs, outputs, atol = keras_golden(bundle, "tflite-fp32")
    (name, y), = outputs.items()
    y = y.copy()
    y[2, 0] += 0.05  # the workstation's answer for item 2, moved 500 times atol
    list_golden(bundle, {"tflite-fp32": (inputs, {name: y}, atol)})
    code, doc = verify_json(capsys, bundle, "--variant", "tflite-fp32")
    assert code == 1 and doc["passed"] is False
    (check,) = doc["variants"]
    assert check["verdict"] == DIFFERS and check["output"] == name
    assert check["max_abs_diff"] == pytest.approx(0.05, abs=1e-3) and check["atol"] == pytest.approx(1e-4)
    assert f"output {name!r} differs from the workstation's by up to 0.05" in check["detail"]
    code, out = verify_cli(capsys, bundle)  # the other variants have none: not a match either
    assert code == 1 and "max |Δ| 0.05 vs atol 0.0001" in out


def test_dynamic_range_int8_cannot_run_on_tflite_runtime(text_topics, golden_copy, capsys):
    if HAS_LITERT and not HAS_TFLITE_RUNTIME:
        pytest.skip("tflite-runtime is not installed here (LiteRT runs dynamic-range int8); "
                    "the device environment runs this case on its default engine")
    if not HAS_TFLITE_RUNTIME:
        pytest.skip("tflite-runtime is not installed here")
    forced = ["--backend", "tflite-runtime"] if HAS_LITERT else []
    # Keras' outputs stand in for the int8 ones: the variant must not run, so they are never compared
    bundle = golden_copy(text_topics, ["tflite-fp32", "tflite-dynamic-int8"] + FP32[1:])
    code, out = verify_cli(capsys, bundle, "--variant", "tflite-dynamic-int8", *forced)
    assert code == 1
    assert out.splitlines()[0].split()[:4] == ["tflite-dynamic-int8", "cannot", "run", "here"]
    assert "FULLY_CONNECTED version 12" in out and "variants that run here: tflite-fp32" in out
    code, doc = verify_json(capsys, bundle, *forced)
    checks = {c["variant"]: c for c in doc["variants"]}
    int8 = checks["tflite-dynamic-int8"]
    assert int8["verdict"] == CANNOT_RUN and int8["engine"] is None  # no other variant ran in its place
    assert int8["runs_here"] == ["tflite-fp32"] + (["onnx-fp32"] if ONNX_HERE else [])
    assert checks["tflite-fp32"]["verdict"] == MATCHES and checks["tflite-fp32"]["engine"] == "tflite-runtime"
    assert code == 1 and doc["summary"] == ("3 variants checked: 2 match, 1 cannot run here" if ONNX_HERE else
                                            "3 variants checked: 1 matches, 2 cannot run here")


def test_a_variant_the_bundle_lacks_is_a_usage_error(text_binary, tmp_path, capsys):
    code = cli.main(["verify", str(text_binary), "--variant", "tflite-fp16"])
    err = capsys.readouterr().err
    assert code == 2 and "no variant 'tflite-fp16'" in err and "tflite-fp32, tflite-int8, onnx-fp32" in err
    assert cli.main(["verify", str(tmp_path / "nowhere")]) == 2
    assert "is not a bundle directory" in capsys.readouterr().err
    assert cli.main(["verify", str(text_binary), "--backend", "tensorrt"]) == 2
    with pytest.raises(UsageError, match="runs .onnx models"):
        verify_bundle(text_binary, variant="tflite-fp32", backend="onnxruntime")


def test_a_bundle_without_golden_samples_says_re_export(text_binary, copy_bundle, capsys):
    bundle = copy_bundle(text_binary)
    strip_golden(bundle)
    code, out = verify_cli(capsys, bundle)
    assert code == 1
    rows = [line.split()[:4] for line in out.splitlines() if line.startswith(("tflite-", "onnx-"))]
    expected = [[key, "no", "golden", "samples"] for key in ("tflite-fp32", "tflite-int8", "onnx-fp32")]
    assert rows == (expected if ONNX_HERE else expected[:2])
    assert "re-export it" in out and out.splitlines()[-1].endswith("no golden samples")
    (check,) = verify_bundle(bundle, variant="tflite-fp32")
    assert check.verdict == NO_GOLDEN and check.engine == TFLITE_ENGINE  # it loads; only the samples are missing


@pytest.mark.skipif(not ONNX_HERE, reason="needs onnxruntime")
def test_backend_checks_only_its_format(text_binary, golden_copy):
    bundle = golden_copy(text_binary, ["onnx-fp32"])
    checks = verify_bundle(bundle, backend="onnxruntime")
    assert [(c.variant, c.verdict) for c in checks] == [
        ("tflite-fp32", NOT_CHECKED), ("tflite-int8", NOT_CHECKED), ("onnx-fp32", MATCHES)]
    assert checks[2].engine == "onnxruntime"
    assert cli.main(["verify", str(bundle), "--backend", "onnxruntime"]) == 0


def test_golden_inputs_are_fed_exactly_as_stored(text_binary, golden_copy):
    """A golden input that does not fit the model is a damaged golden file, not a difference."""
    bundle = golden_copy(text_binary, ["tflite-fp32"])
    inputs, outputs, atol = keras_golden(bundle, "tflite-fp32")
    (name, x), = inputs.items()
    list_golden(bundle, {"tflite-fp32": ({name: x[:, :-1]}, outputs, atol)})
    (check,) = verify_bundle(bundle, variant="tflite-fp32")
    assert check.verdict == DAMAGED and "does not fit tflite-fp32's model" in check.detail
    assert np.shape(x)[1] == 20 and "got shape (4, 19)" in check.detail


def test_an_unreadable_manifest_is_a_damaged_bundle(text_binary, copy_bundle, capsys):
    bundle = copy_bundle(text_binary)
    (bundle / "manifest.json").write_text('{"schema_version": 2, "kind": "text"')
    assert cli.main(["verify", str(bundle)]) == 1
    assert "manifest.json" in capsys.readouterr().err
