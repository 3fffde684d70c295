"""ONNX Runtime Mobile: every ONNX variant gets a `.ort` beside it, listed and hashed in the manifest, with the
`required_operators.config` a reduced build needs; each `.ort` answers like its `.onnx` on the golden samples."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from edgeport.runtime import golden, load
from edgeport.runtime.manifest import read_manifest


@pytest.fixture(scope="module")
def bundle(exported):
    return exported("imdb").bundle


def test_every_onnx_variant_has_a_hashed_ort_beside_it(bundle):
    manifest = read_manifest(bundle)
    onnx = [a for a in manifest.artifacts if a.format == "onnx"]
    assert {a.variant for a in onnx} == {"fp32", "dynamic-int8", "static-int8"}
    for artifact in onnx:
        ort = artifact.parity["ort"]
        data = (bundle / ort["file"]).read_bytes()
        assert ort["file"] == artifact.file.replace(".onnx", ".ort")
        assert (ort["size"], ort["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())
        assert data[4:8] == b"ORTM"  # the ORT format's flatbuffer identifier, not an ONNX protobuf
        assert ort["passed"] is True
    assert "required_operators.config" in {f.path for f in manifest.files}
    assert not [a for a in manifest.artifacts if a.format == "tflite" and "ort" in a.parity]


def test_ort_files_equal_the_onnx_outputs_on_the_golden_samples(bundle):
    manifest = read_manifest(bundle)
    for artifact in (a for a in manifest.artifacts if a.format == "onnx"):
        samples = golden.read_golden((bundle / golden.golden_file(artifact.key)).read_bytes(), artifact.key)
        onnx_out = load(bundle, variant=artifact.key).run(samples.inputs)
        ort_out = load(bundle / artifact.parity["ort"]["file"]).run(samples.inputs)
        assert set(onnx_out) == set(ort_out)
        for name, y in onnx_out.items():
            np.testing.assert_allclose(ort_out[name], y, rtol=0, atol=samples.atol, err_msg=f"{artifact.key} {name}")
            assert artifact.parity["ort"]["max_abs_diff"] == pytest.approx(float(np.max(np.abs(ort_out[name] - y))), abs=1e-6)


def test_the_operator_config_names_the_models_operators(bundle):
    text = (bundle / "required_operators.config").read_text()
    ops = {op for line in text.splitlines() if line and not line.startswith("#") for op in line.split(";")[2].split(",")}
    assert {"Gather", "Sigmoid"} <= ops  # the imdb model's Embedding and its output
    assert any(op.startswith(("QuantizeLinear", "DynamicQuantize", "MatMulInteger", "QLinear")) for op in ops)
    assert "/tmp" not in text and "edgeport-ort-" not in text  # comments name files, not the temporary paths
