"""Every variant of a small model of each task exports, loads through `runtime` and meets its tolerance."""

import json

import numpy as np
import onnx
import pytest

from edgeport import runtime
from edgeport.export.bundle import parameter_bytes
from edgeport.export.onnx import onnx_tensor_specs, unwrapped_compute_ops
from edgeport.export.tflite import float_ops, tflite_ops, tflite_tensor_specs
from edgeport.export.validate import class_probabilities
from edgeport.export.variants import VARIANTS, variant
from edgeport.runtime.manifest import read_manifest, sha256_file

TASKS = ["imdb", "reuters", "pets"]
KEYS = [v.key for v in VARIANTS]


@pytest.mark.parametrize("task", TASKS)
def test_every_variant_passes_its_tolerance(exported, task):
    e = exported(task)
    assert e.result.failed == []
    manifest = read_manifest(e.bundle)
    assert [a.key for a in manifest.artifacts] == KEYS
    for artifact in manifest.artifacts:
        p, tol = artifact.parity, variant(artifact.key).tolerance
        assert artifact.status == "passed", (artifact.key, p["failures"])
        assert p["samples"] == len(e.data.x_test)
        if tol.max_abs_diff is not None:
            assert p["max_abs_diff"] <= tol.max_abs_diff, artifact.key
        assert p["class_agreement"] >= tol.min_agreement, artifact.key
        if tol.max_accuracy_delta is not None:
            assert abs(p["accuracy_delta_points"]) <= tol.max_accuracy_delta, artifact.key


@pytest.mark.parametrize("task", TASKS)
def test_every_artifact_loads_through_runtime_and_answers_like_keras(exported, task):
    e = exported(task)
    x, keras_p = e.data.x_test, e.model.predict(e.data.x_test, verbose=0)
    keras_class = class_probabilities(keras_p).argmax(axis=1)
    for key in KEYS:
        model = runtime.load(e.bundle, variant=key)
        p = np.asarray(model.predict_tensor(x))
        assert p.dtype == np.float32 and p.shape == keras_p.shape and np.isfinite(p).all(), key
        agreement = np.mean(class_probabilities(p).argmax(axis=1) == keras_class)
        assert agreement >= variant(key).tolerance.min_agreement, key
        if key.endswith("fp32"):
            assert np.abs(p - keras_p).max() <= 1e-5, key


@pytest.mark.parametrize("task", TASKS)
def test_fp32_files_hold_their_weights(exported, task):
    e = exported(task)
    weights = parameter_bytes(e.model)
    if task != "pets":  # no BatchNorm to fold: every parameter counts
        assert weights == 4 * e.model.count_params()
    for key in ("tflite-fp32", "onnx-fp32"):
        artifact = read_manifest(e.bundle).artifact(key)
        assert (e.bundle / artifact.file).stat().st_size >= weights, key
        assert np.isfinite(runtime.load(e.bundle, variant=key).predict_tensor(e.data.x_test[:32])).all()


@pytest.mark.parametrize("task", TASKS)
def test_tflite_int8_is_integer_on_the_compute_path(exported, task):
    path = exported(task).bundle / "model.int8.tflite"
    assert float_ops(path) == []
    compute = [op for op in tflite_ops(path) if op["op"] in ("FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D")]
    assert compute and all(op["inputs"][0] == "int8" and op["outputs"] == ["int8"] for op in compute)
    inputs, outputs = tflite_tensor_specs(path)
    assert inputs[0].dtype == ("int8" if task == "pets" else "int32")
    assert outputs[0].dtype == "int8" and outputs[0].quantized
    manifest_out = read_manifest(exported(task).bundle).artifact("tflite-int8").outputs[0]
    assert (manifest_out.scale, manifest_out.zero_point) == (outputs[0].scale, outputs[0].zero_point)


@pytest.mark.parametrize("task", TASKS)
def test_onnx_static_int8_has_qdq_around_every_compute_op(exported, task):
    path = exported(task).bundle / "model.static-int8.onnx"
    assert unwrapped_compute_ops(path) == []
    ops = [n.op_type for n in onnx.load(str(path)).graph.node]
    assert ops.count("QuantizeLinear") >= 2 and ops.count("DequantizeLinear") >= 3
    assert unwrapped_compute_ops(exported(task).bundle / "model.fp32.onnx")  # the float file is not QDQ


@pytest.mark.parametrize("task", TASKS)
def test_dynamic_int8_variants_hold_int8_weights(exported, task):
    bundle = exported(task).bundle
    assert any("int8" in op["inputs"] for op in tflite_ops(bundle / "model.dynamic-int8.tflite"))
    ops = {n.op_type for n in onnx.load(str(bundle / "model.dynamic-int8.onnx")).graph.node}
    assert {"DynamicQuantizeLinear", "MatMulInteger"} <= ops or "ConvInteger" in ops or "DequantizeLinear" in ops


@pytest.mark.parametrize("task", ["imdb", "reuters"])
def test_token_inputs_stay_int32_in_every_variant(exported, task):
    bundle = exported(task).bundle
    for v in VARIANTS:
        specs = tflite_tensor_specs if v.format == "tflite" else onnx_tensor_specs
        inputs, _ = specs(bundle / v.filename)
        assert [(i.dtype, i.shape[0]) for i in inputs] == [("int32", None)], v.key  # dynamic batch too


def test_pets_parity_runs_on_a_model_whose_answers_vary(exported):
    e = exported("pets")
    top = e.model.predict(e.data.x_test, verbose=0).max(axis=1)
    assert top.std() > 0.05
    for artifact in read_manifest(e.bundle).artifacts:
        assert artifact.parity["keras_spread"] == pytest.approx(top.std(), abs=1e-4)
        assert artifact.parity["spread"] > 0.05, artifact.key


def test_manifest_describes_the_bundle(exported):
    e = exported("imdb")
    manifest = read_manifest(e.bundle)
    task = json.loads((e.bundle / "keras" / "task.json").read_text())
    assert (manifest.task, manifest.kind, manifest.labels, manifest.preprocessing) == (task["task"], "text", task["labels"], task["preprocessing"])
    assert manifest.source_model == {"file": "keras/model.keras", "sha256": sha256_file(e.bundle / "keras" / "model.keras")}
    for artifact in manifest.artifacts:
        path = e.bundle / artifact.file
        assert artifact.file == variant(artifact.key).filename
        assert (artifact.size, artifact.sha256) == (path.stat().st_size, sha256_file(path))
        assert artifact.inputs[0].shape == [None, 10] and artifact.outputs[0].shape == [None, 1]
        assert artifact.parity["latency_ms_median"] > 0
        if artifact.format == "onnx":
            assert artifact.opset == 17 and artifact.converter.get("onnxruntime" if artifact.variant != "fp32" else "tf2onnx")
        else:
            assert artifact.opset is None and artifact.converter["tensorflow"]
    assert manifest.artifact("onnx-static-int8").converter["calibrate_method"] == "MinMax"
    assert manifest.artifact("tflite-int8").converter["calibration_samples"] == "64"
    assert manifest.recommended in KEYS and manifest.recommended_reason


def test_report_has_a_row_per_variant_and_a_plot(exported):
    e = exported("imdb")
    text = (e.bundle / "report.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| tflite") or line.startswith("| onnx")]
    assert len(rows) == 7 and all(line.rstrip().endswith("| passed |") for line in rows)
    assert "| tflite | fp32 | " in text and "100.0" in rows[0]
    cells = rows[3].split("|")  # tflite int8: size in bytes and % of fp32, then accuracy and Δ
    assert int(cells[3].replace(",", "")) == read_manifest(e.bundle).artifact("tflite-int8").size
    assert float(cells[4]) < 100.0
    assert (e.bundle / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

