"""Every variant of a small model of each task exports, loads through `runtime` and meets its tolerance."""

import json

import numpy as np
import onnx
import pytest

from edgeport import runtime
from edgeport.export.agreement import agreement_passes
from edgeport.export.bundle import parameter_bytes
from edgeport.export.onnx import onnx_tensor_specs, quantize_dynamic_int8, unwrapped_compute_ops
from edgeport.export.tflite import float_ops, tflite_ops, tflite_tensor_specs
from edgeport.export.checks import class_probabilities
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
        n = p["agreement_samples"]  # agreement is judged by its 95 % lower bound (`export.agreement`)
        assert agreement_passes(round(p["class_agreement"] * n), n, tol.min_agreement), artifact.key
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
    # what phones take: camera pixels (uint8, the normalisation inside) or token ids in, uint8 out
    assert (inputs[0].dtype, inputs[0].quantized) == (("uint8", False) if task == "pets" else ("int32", False))
    assert outputs[0].dtype == "uint8" and outputs[0].quantized
    manifest_out = read_manifest(exported(task).bundle).artifact("tflite-int8").outputs[0]
    assert (manifest_out.scale, manifest_out.zero_point) == (outputs[0].scale, outputs[0].zero_point)


def weighted_nodes(path, op_types=("MatMul", "Gemm", "Conv")) -> dict[str, list[str]]:
    """Compute nodes of `op_types` that read a weight, by how they read it: "float" (a float initializer,
    directly), "dequantized" (DequantizeLinear of an int8/uint8 initializer), "other"."""
    graph = onnx.load(str(path)).graph
    initializers = {i.name: i.data_type for i in graph.initializer}
    producers = {out: node for node in graph.node for out in node.output}
    floats = (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE)
    integers = (onnx.TensorProto.INT8, onnx.TensorProto.UINT8)
    found: dict[str, list[str]] = {"float": [], "dequantized": [], "other": []}
    for node in graph.node:
        if node.op_type not in op_types or len(node.input) < 2:
            continue
        weight = node.input[1]
        producer = producers.get(weight)
        if initializers.get(weight) in floats:
            found["float"].append(node.name)
        elif producer is not None and producer.op_type == "DequantizeLinear" and initializers.get(producer.input[0]) in integers:
            found["dequantized"].append(node.name)
        else:
            found["other"].append(node.name)
    return found


@pytest.mark.parametrize("task", TASKS)
def test_onnx_static_int8_has_qdq_around_every_compute_op(exported, task):
    bundle = exported(task).bundle
    path = bundle / "model.static-int8.onnx"
    assert unwrapped_compute_ops(path) == []
    ops = [n.op_type for n in onnx.load(str(path)).graph.node]
    assert ops.count("QuantizeLinear") >= 2 and ops.count("DequantizeLinear") >= 3
    assert unwrapped_compute_ops(bundle / "model.fp32.onnx")  # the float file is not QDQ
    # every weight is stored as int8 and dequantised right before its node: no float weight is left
    float_file, static = weighted_nodes(bundle / "model.fp32.onnx"), weighted_nodes(path)
    assert float_file["float"] and not float_file["dequantized"]
    assert static["float"] == [] and static["other"] == []
    assert len(static["dequantized"]) == len(float_file["float"])


def float_matmuls_left(float_path, quantised_path) -> list[str]:
    """What a dynamically quantised file leaves undone: each MatMul/Gemm that reads a float weight, and a
    count of integer MatMuls that differs from the float file's weighted MatMul/Gemm count."""
    weighted = weighted_nodes(float_path, ("MatMul", "Gemm"))["float"]
    assert weighted, f"{float_path} has no MatMul/Gemm with a weight: nothing to check"
    problems = [f"float {name}" for name in weighted_nodes(quantised_path, ("MatMul", "Gemm"))["float"]]
    ops = [n.op_type for n in onnx.load(str(quantised_path)).graph.node]
    integer = ops.count("MatMulInteger") + ops.count("DynamicQuantizeMatMul") + sum(op.startswith("QLinear") for op in ops)
    if integer != len(weighted):
        problems.append(f"{integer} integer MatMuls for {len(weighted)} weighted MatMul/Gemm")
    return problems


@pytest.mark.parametrize("task", TASKS)
def test_dynamic_int8_variants_hold_int8_weights(exported, task):
    bundle = exported(task).bundle
    assert any("int8" in op["inputs"] for op in tflite_ops(bundle / "model.dynamic-int8.tflite"))
    assert float_matmuls_left(bundle / "model.fp32.onnx", bundle / "model.dynamic-int8.onnx") == []


def test_the_dynamic_int8_check_sees_a_float_matmul(exported, tmp_path):
    """Quantising the embedding's Gather alone gives int8 weights and DequantizeLinear nodes, but leaves the
    MatMul float: the check above refuses it."""
    fp32 = exported("imdb").bundle / "model.fp32.onnx"
    gather_only = tmp_path / "gather-only.onnx"
    quantize_dynamic_int8(fp32, gather_only, op_types=("Gather",))
    assert "DequantizeLinear" in {n.op_type for n in onnx.load(str(gather_only)).graph.node}
    problems = float_matmuls_left(fp32, gather_only)
    assert len(problems) == 2 and problems[0].startswith("float ") and problems[0].endswith("MatMul"), problems
    assert problems[1] == "0 integer MatMuls for 1 weighted MatMul/Gemm"


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
    assert (manifest.task, manifest.kind, manifest.labels, manifest.preprocessing) == (
        task["task"], "text", task["labels"], task["preprocessing"])
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

