"""`runtime.load` and `Model` on bundles and bare files: values against Keras' own outputs."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from edgeport import runtime
from edgeport.runtime import backends
from edgeport.runtime.loading import ranked_artifacts
from edgeport.runtime.errors import (
    DtypeError, EmptyBatchError, EngineMissingError, EngineUnsupportedError, ManifestError, ModelFileError,
    ShapeError, UsageError, ValueRangeError,
)
from edgeport.runtime.manifest import SCHEMA_VERSION, manifest_from_dict
from tests.runtime.conftest import (
    HAS_LITERT, HAS_TF, HAS_TFLITE_RUNTIME, TFLITE_ENGINE, expected, manifest_doc, needs_tf, write_manifest_doc,
)

FP32_ATOL = 1e-5


@pytest.mark.parametrize("variant", ["tflite-fp32", "onnx-fp32"])
@pytest.mark.parametrize("bundle", ["text_binary", "text_topics", "image_bundle"])
def test_fp32_variants_match_keras(request, bundle, variant):
    path = request.getfixturevalue(bundle)
    model = runtime.load(path, variant=variant)
    x, y = expected(path)
    out = model.predict_tensor(x)
    assert out.dtype == np.float32 and out.shape == y.shape
    np.testing.assert_allclose(out, y, atol=FP32_ATOL)
    assert model.info()["backend"] == (TFLITE_ENGINE if variant.startswith("tflite") else "onnxruntime")


@pytest.mark.parametrize("bundle", ["text_binary", "image_bundle"])
def test_int8_variant_is_close_to_keras(request, bundle):
    path = request.getfixturevalue(bundle)
    model = runtime.load(path, variant="tflite-int8")
    spec = model.info()["outputs"][0]
    assert spec["dtype"] == "uint8" and spec["scale"] > 0  # the int8 output + 128: what phone libraries take
    x, y = expected(path)
    out = model.predict_tensor(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, y, atol=0.08)
    if y.shape[1] > 1:
        assert (out.argmax(1) == y.argmax(1)).mean() >= 0.9


def test_any_batch_size_resizes_the_engine(text_binary):
    model = runtime.load(text_binary, variant="tflite-fp32")
    x, y = expected(text_binary)
    for n in (1, 3, 9, 1, 9):  # grow, shrink and repeat
        np.testing.assert_allclose(model.predict_tensor(x[:n]), y[:n], atol=FP32_ATOL)
    big = np.repeat(x, 40, axis=0)
    np.testing.assert_allclose(model.predict_tensor(big), np.repeat(y, 40, axis=0), atol=FP32_ATOL)


@pytest.mark.parametrize("name", ["text_batch1.tflite", "text_batch1.onnx"])
def test_engine_fixed_at_batch_one_is_looped(models_dir, text_binary, name):
    model = runtime.load(models_dir / "bare" / name)
    assert model.info()["inputs"][0]["shape"] == [1, 20]
    assert model.info()["verified"] is False and model.info()["variant"] is None
    x, y = expected(text_binary)
    np.testing.assert_allclose(model.predict_tensor(x), y, atol=FP32_ATOL)
    with pytest.raises(UsageError, match="predict_tensor"):
        model.predict(["no preprocessing without a manifest"])


def test_bare_file_loads_without_manifest(text_binary):
    model = runtime.load(text_binary / "model.int8.tflite")
    x, y = expected(text_binary)
    np.testing.assert_allclose(model.predict_tensor(x), y, atol=0.08)
    assert model.info()["manifest"] is None


def test_raw_text_and_classify(text_binary, text_topics):
    model = runtime.load(text_binary)
    texts = ["A great, fun film!", "Dull and far too long: boring.", "It's a wonderful story"]
    tokens = model.preprocessor(texts)
    np.testing.assert_array_equal(tokens[0, -5:], [1, 5, 12, 13, 6])  # start, a, great, fun, film
    probabilities = model.predict(texts)
    np.testing.assert_array_equal(probabilities, model.predict_tensor(tokens))
    labels = model.classify(texts)
    assert [label for label, _ in labels] == ["positive", "negative", "positive"]
    assert labels[0][1] == pytest.approx(float(probabilities[0, 0]))
    assert labels[1][1] == pytest.approx(1.0 - float(probabilities[1, 0]))
    assert model.classify("great fun")[0][0] == "positive"  # one str is a batch of one

    topics = runtime.load(text_topics)
    answers = topics.classify(["Oil barrels: crude exports rose", "The bank cut rates; the dollar fell",
                               "profit and shares", "merger stake"])
    assert [label for label, _ in answers] == ["crude", "money", "earn", "acq"]
    p = topics.predict(["merger stake"])
    assert p.shape == (1, 5) and answers[3][1] == pytest.approx(float(p.max()))
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)


def _pillow_major(version: str) -> int:
    return int(version.split(".")[0])


def test_raw_images_match_keras(models_dir, image_bundle):
    """Exactly Keras' tensors when this Pillow resizes as the one Keras used; Pillow 13 changed its bilinear
    resize, and across that change one grey level (1/127.5 after scaling) differs in about 5 % of values
    (measured with Pillow 9.4 to 12.2 against 13.0), so there the bound is checked instead."""
    from PIL import __version__ as pillow_here

    data = np.load(models_dir / "images" / "expected.npz")
    paths = [models_dir / "images" / str(name) for name in data["names"]]
    same_resize = (_pillow_major(pillow_here) >= 13) == (_pillow_major(str(data["pillow"])) >= 13)
    installed = {e.name for e in backends.ENGINES.values() if backends.installed(e)}
    for variant, atol in (("tflite-fp32", FP32_ATOL), ("onnx-fp32", FP32_ATOL), ("tflite-int8", 0.08)):
        if variant.startswith("onnx") and "onnxruntime" not in installed:
            continue  # 32-bit Arm: no onnxruntime wheel
        model = runtime.load(image_bundle, variant=variant)
        x = model.preprocessor(paths)
        if same_resize:
            np.testing.assert_allclose(x, data["x"], atol=1e-6)
            np.testing.assert_allclose(model.predict([str(p) for p in paths]), data["y"], atol=atol)
        else:
            differs = np.abs(x - data["x"]) > 1e-6
            assert np.abs(x - data["x"]).max() <= 1 / 127.5 + 1e-6 and differs.mean() < 0.10
            np.testing.assert_array_equal(model.predict([str(p) for p in paths]), model.predict_tensor(x))
    labels = [label for label, _ in runtime.load(image_bundle).classify(paths)]
    assert labels == ["cats", "dogs", "horses", "cats"]  # the colour each photo was made with


def test_info_describes_engine_threads_and_tensors(text_binary):
    model = runtime.load(text_binary, threads=2)
    info = model.info()
    assert info["variant"] == "tflite-fp32" and info["threads"] == 2 and info["backend"] == TFLITE_ENGINE
    assert info["backend_version"][0].isdigit() and info["verified"] is True
    assert info["inputs"][0]["dtype"] == "int32" and info["inputs"][0]["shape"] == [None, 20]
    assert info["labels"] == ["negative", "positive"] and info["manifest"]["task"] == "sentiment"
    assert len(info["sha256"]) == 64 and "lock" in info["thread_safety"]
    assert "tflite-fp32" in repr(model)
    json.dumps(info)  # JSON-ready


def test_token_dtype_and_range_checks(text_binary):
    model = runtime.load(text_binary)
    x, y = expected(text_binary)
    np.testing.assert_allclose(model.predict_tensor(x.astype(np.int64)), y, atol=FP32_ATOL)
    np.testing.assert_allclose(model.predict_tensor(x.tolist()), y, atol=FP32_ATOL)
    with pytest.raises(DtypeError, match="integer token ids"):
        model.predict_tensor(x.astype(np.float32))
    with pytest.raises(ValueRangeError, match=r"token id 50 .*\[0, 50\)"):
        model.predict_tensor(np.full((2, 20), 50))
    with pytest.raises(ValueRangeError, match="token id -1"):
        model.predict_tensor(np.full((2, 20), -1))
    with pytest.raises(ShapeError, match=r"add a batch axis"):
        model.predict_tensor(x[0])
    with pytest.raises(ShapeError, match="axis 1 is 7"):
        model.predict_tensor(x[:, :7])
    with pytest.raises(EmptyBatchError):
        model.predict_tensor(np.zeros((0, 20), np.int32))
    with pytest.raises(EmptyBatchError):
        model.predict([])
    with pytest.raises(DtypeError):
        model.predict_tensor([["a"] * 20])


@pytest.mark.parametrize("variant", ["tflite-fp32", "tflite-int8", "onnx-fp32"])
def test_float_input_checks(image_bundle, variant):
    model = runtime.load(image_bundle, variant=variant)
    x, _ = expected(image_bundle)
    bad = x[:2].copy()
    bad[1, 3, 4, 2] = np.nan
    with pytest.raises(ValueRangeError, match=r"NaN or inf \(first at index \(1, 3, 4, 2\)"):
        model.predict_tensor(bad)
    bad[1, 3, 4, 2] = np.inf
    with pytest.raises(ValueRangeError):
        model.predict_tensor(bad)
    with pytest.raises(ShapeError, match="rank 4"):
        model.predict_tensor(x[:, :, :, 0])
    with pytest.raises(ShapeError, match="axis 1 is 16"):
        model.predict_tensor(x[:, :16])
    with pytest.raises(ShapeError, match="different shapes"):
        model.predict_tensor([x[0], x[0, :5]])
    assert model.predict_tensor(x.astype(np.float64)).dtype == np.float32


def test_sha256_and_size_are_checked_before_loading(text_binary, copy_bundle):
    bundle = copy_bundle(text_binary)
    model_file = bundle / "model.fp32.tflite"
    data = bytearray(model_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model_file.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="sha256 .* re-export or re-copy"):
        runtime.load(bundle, variant="tflite-fp32")
    model_file.write_bytes(bytes(data[:100]))
    with pytest.raises(ModelFileError, match="100 bytes, the manifest says"):
        runtime.load(bundle, variant="tflite-fp32")
    model_file.unlink()
    with pytest.raises(ModelFileError, match="missing"):
        runtime.load(bundle, variant="tflite-fp32")
    np.testing.assert_allclose(runtime.load(bundle, variant="onnx-fp32").predict_tensor(expected(bundle)[0]),
                               expected(bundle)[1], atol=FP32_ATOL)  # the others still load


def test_manifest_problems(text_binary, copy_bundle, tmp_path):
    bundle = copy_bundle(text_binary)
    doc = manifest_doc(bundle)
    for change, message in [
        (lambda d: d["artifacts"][0].update(file="../outside.tflite"), "outside the bundle"),
        (lambda d: d["artifacts"][0].update(file="/etc/passwd"), "relative to the bundle"),
        (lambda d: d["preprocessing"].update(vocabulary="../../vocab.json"), "outside the bundle"),
        (lambda d: d.update(schema_version=99), "schema_version 99"),
        (lambda d: d.pop("artifacts"), "missing field 'artifacts'"),
        (lambda d: d.update(labels=["just one"]), "1 labels but the model has 2 classes"),
    ]:
        broken = json.loads(json.dumps(doc))
        change(broken)
        write_manifest_doc(bundle, broken)
        with pytest.raises(ManifestError, match=message):
            runtime.load(bundle)
    (bundle / "manifest.json").write_text("{ not json")
    with pytest.raises(ManifestError, match="not valid JSON"):
        runtime.load(bundle)
    write_manifest_doc(bundle, doc)
    (bundle / "vocab.json").unlink()
    with pytest.raises(ModelFileError, match="vocab.json is missing"):
        runtime.load(bundle)
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(ManifestError, match="no manifest.json"):
        runtime.load(tmp_path / "empty_dir")
    with pytest.raises(ManifestError, match="no variant 'tflite-fp16'"):
        runtime.load(text_binary, variant="tflite-fp16")


def test_symlink_out_of_the_bundle_is_refused(text_binary, copy_bundle, tmp_path):
    bundle = copy_bundle(text_binary)
    outside = tmp_path / "elsewhere.tflite"
    (bundle / "model.fp32.tflite").rename(outside)
    (bundle / "model.fp32.tflite").symlink_to(outside)
    with pytest.raises(ManifestError, match="symbolic link"):
        runtime.load(bundle, variant="tflite-fp32")


def _manifest(keys_status, recommended=None):
    artifacts = [{"format": k.split("-", 1)[0], "variant": k.split("-", 1)[1], "file": f"m{i}", "sha256": "0" * 64,
                  "size": 1, "inputs": [], "outputs": [], "status": s} for i, (k, s) in enumerate(keys_status)]
    return manifest_from_dict({"schema_version": SCHEMA_VERSION, "task": "t", "kind": "text", "labels": [], "preprocessing": {},
                               "artifacts": artifacts, "recommended": recommended})


def test_default_variant_choice():
    m = _manifest([("onnx-fp32", "passed"), ("tflite-int8", "passed"), ("tflite-fp32", "passed")])
    assert [a.key for a in ranked_artifacts(m, None, None)] == ["tflite-fp32", "tflite-int8", "onnx-fp32"]
    assert [a.key for a in ranked_artifacts(m, None, "onnxruntime")] == ["onnx-fp32"]
    m = _manifest([("tflite-fp32", "failed"), ("tflite-int8", "unchecked"), ("onnx-fp32", "passed")])
    assert ranked_artifacts(m, None, None)[0].key == "onnx-fp32"  # passed beats unchecked, failed never by default
    m = _manifest([("tflite-fp32", "passed"), ("tflite-int8", "passed")], recommended="tflite-int8")
    assert ranked_artifacts(m, None, None)[0].key == "tflite-int8"
    m = _manifest([("tflite-fp32", "failed")])
    with pytest.raises(ManifestError, match="no variant of this bundle passed"):
        ranked_artifacts(m, None, None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert ranked_artifacts(m, "tflite-fp32", None)[0].key == "tflite-fp32"
    assert "failed export's parity checks" in str(caught[0].message)
    with pytest.raises(UsageError, match="runs .onnx models"):
        ranked_artifacts(m, "tflite-fp32", "onnxruntime")
    assert ranked_artifacts(_manifest([("onnx-static-int8", "passed")]), "static-int8", None)[0].key == "onnx-static-int8"


def test_recommended_variant_is_loaded(text_topics):
    assert manifest_doc(text_topics)["recommended"] == "tflite-fp32"
    assert runtime.load(text_topics).info()["variant"] == "tflite-fp32"
    assert runtime.load(text_topics, backend="onnxruntime").info()["variant"] == "onnx-fp32"


def test_load_options_are_checked(text_binary, tmp_path):
    with pytest.raises(UsageError, match="threads"):
        runtime.load(text_binary, threads=0)
    with pytest.raises(UsageError, match="unknown backend 'cuda'"):
        runtime.load(text_binary, backend="cuda")
    with pytest.raises(UsageError, match="needs a bundle directory"):
        runtime.load(text_binary / "model.fp32.tflite", variant="tflite-fp32")
    with pytest.raises(ModelFileError, match="does not exist"):
        runtime.load(tmp_path / "nothing.tflite")
    (tmp_path / "model.keras").write_bytes(b"PK")
    with pytest.raises(ModelFileError, match="not a .tflite or .onnx"):
        runtime.load(tmp_path / "model.keras")


def test_missing_engine_names_the_pip_extra(text_binary):
    missing = "tflite-runtime" if not HAS_TFLITE_RUNTIME else "litert" if not HAS_LITERT else None
    if missing is None:
        pytest.skip("both TFLite engines are installed here")
    extra = {"tflite-runtime": "edgeport[tflite]", "litert": "edgeport[litert]"}[missing]
    with pytest.raises(EngineMissingError, match=extra.replace("[", r"\[")):
        runtime.load(text_binary, variant="tflite-fp32", backend=missing)


def test_dynamic_range_model_on_each_engine(text_topics):
    """tflite-runtime 2.14 lacks FULLY_CONNECTED v12: a clear error naming the operator and LiteRT."""
    x, y = expected(text_topics)
    if TFLITE_ENGINE == "tflite-runtime":
        with pytest.raises(EngineUnsupportedError) as caught:
            runtime.load(text_topics, variant="tflite-dynamic-int8")
        message = str(caught.value)
        assert "FULLY_CONNECTED version 12" in message and "ai-edge-litert runs it" in message
        assert "edgeport[litert]" in message
    else:
        out = runtime.load(text_topics, variant="tflite-dynamic-int8").predict_tensor(x)
        np.testing.assert_allclose(out, y, atol=0.05)


def test_tflite_runtime_message_is_translated():
    from edgeport.runtime.backends.litert import load_error

    raw = ValueError("Didn't find op for builtin opcode 'FULLY_CONNECTED' version '12'. An older version of this "
                     "builtin might be supported. Are you using an old TFLite binary with a newer model?\n"
                     "Registration failed.\n")
    error = load_error(raw, "tflite-runtime", "2.14.0", "model.tflite")
    assert isinstance(error, EngineUnsupportedError)
    assert "FULLY_CONNECTED version 12" in str(error) and "ai-edge-litert" in str(error)
    custom = load_error(RuntimeError("Encountered unresolved custom op: FlexErf."), "litert", "2.3.0", "m")
    assert isinstance(custom, EngineUnsupportedError) and "FlexErf" in str(custom)
    assert isinstance(load_error(ValueError("No subgraph in the model."), "litert", "2", "m"), ModelFileError)


@needs_tf
def test_tf_lite_fallback_backend(text_binary):
    model = runtime.load(text_binary, variant="tflite-int8", backend="tf-lite")
    assert model.info()["backend"] == "tf-lite"
    x, _ = expected(text_binary)
    reference = runtime.load(text_binary, variant="tflite-int8").predict_tensor(x)
    np.testing.assert_allclose(model.predict_tensor(x), reference, atol=1 / 256 + 1e-7)


@pytest.mark.skipif(HAS_TF and not HAS_LITERT and not HAS_TFLITE_RUNTIME, reason="only tf.lite here")
def test_litert_or_tflite_runtime_is_the_default(text_binary):
    assert runtime.load(text_binary).info()["backend"] in ("litert", "tflite-runtime")


def test_inputs_by_name(text_binary):
    model = runtime.load(text_binary)
    x, y = expected(text_binary)
    name = model.info()["inputs"][0]["name"]
    np.testing.assert_allclose(model.predict_tensor({name: x}), y, atol=FP32_ATOL)
    with pytest.raises(UsageError, match="missing inputs"):
        model.predict_tensor({"wrong": x})


def test_default_load_falls_back_when_the_engine_cannot_run_the_recommended_variant(text_topics, copy_bundle):
    bundle = copy_bundle(text_topics)
    doc = manifest_doc(bundle)
    doc["recommended"] = "tflite-dynamic-int8"
    write_manifest_doc(bundle, doc)
    x, y = expected(bundle)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = runtime.load(bundle)
    if TFLITE_ENGINE == "tflite-runtime":
        assert model.info()["variant"] == "tflite-fp32"
        assert "FULLY_CONNECTED version 12" in str(caught[0].message)
        with pytest.raises(EngineUnsupportedError):  # named explicitly: no fallback
            runtime.load(bundle, variant="tflite-dynamic-int8")
    else:
        assert model.info()["variant"] == "tflite-dynamic-int8" and not caught
    np.testing.assert_allclose(model.predict_tensor(x), y, atol=0.05)
