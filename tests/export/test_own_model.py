"""`edgeport-export MODEL.keras --samples S.npz --out DIR`: a Keras model written outside edgeport (two inputs,
a softmax and a regression output; a MobileNetV2 with random weights) exports to all seven variants, each
checked; the bundle loads and runs through the runtime, and its golden samples replay."""

from __future__ import annotations

import json
import os
from contextlib import redirect_stdout
from io import StringIO

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from edgeport import runtime  # noqa: E402
from edgeport.export.cli import main  # noqa: E402
from edgeport.runtime.errors import UsageError  # noqa: E402
from edgeport.runtime.golden import read_golden  # noqa: E402
from edgeport.runtime.manifest import read_manifest, sha256_file  # noqa: E402
from edgeport.runtime.variants import KEYS  # noqa: E402

SEVEN = list(KEYS)
WORDS, LENGTH, FEATURES = 40, 12, 6


def two_input_model(seed: int = 0) -> keras.Model:
    """Token ids and a feature vector in; a topic (softmax over 3) and a score (regression) out."""
    keras.utils.set_random_seed(seed)
    tokens = keras.Input((LENGTH,), dtype="int32", name="tokens")
    features = keras.Input((FEATURES,), name="features")
    pooled = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(WORDS, 8)(tokens))
    hidden = keras.layers.Dense(16, activation="relu")(keras.layers.Concatenate()([pooled, features]))
    topic = keras.layers.Dense(3, activation="softmax", name="topic")(hidden)
    score = keras.layers.Dense(1, name="score")(hidden)
    return keras.Model([tokens, features], [topic, score])


def two_input_samples(n: int = 48, seed: int = 0, labels: bool = True) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    samples = {"x_tokens": rng.integers(0, WORDS, (n, LENGTH)).astype(np.int32),
               "x_features": rng.normal(0.0, 1.0, (n, FEATURES)).astype(np.float32)}
    if labels:
        samples["y"] = rng.integers(0, 3, n)
    return samples


def by_bare_name(specs, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Feeds keyed by the engine's input names (`serving_default_tokens:0`, `tokens`) from Keras' names."""
    feeds = {}
    for spec in specs:
        bare = spec.name.split(":")[0].removeprefix("serving_default_")
        feeds[spec.name] = arrays[bare]
    return feeds


def export_cli(tmp, model: keras.Model, samples: dict[str, np.ndarray], variants: list[str], capsys, name: str = "m"):
    model_path, samples_path, out = tmp / f"{name}.keras", tmp / f"{name}.npz", tmp / f"{name}-bundle"
    model.save(model_path)
    np.savez(samples_path, **samples)
    code = main([str(model_path), "--samples", str(samples_path), "--out", str(out), "--variants", ",".join(variants),
                 "--calibration-samples", "16", "--no-latency", "--allow-failures"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err, out


@pytest.fixture(scope="module")
def two_input(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("own")
    model, samples = two_input_model(), two_input_samples()
    model.save(tmp / "two.keras")
    np.savez(tmp / "two.npz", **samples)
    printed = StringIO()
    with redirect_stdout(printed):
        code = main([str(tmp / "two.keras"), "--samples", str(tmp / "two.npz"), "--out", str(tmp / "bundle"),
                     "--calibration-samples", "16", "--no-latency", "--allow-failures"])
    return {"code": code, "out": printed.getvalue(), "bundle": tmp / "bundle", "model": model, "samples": samples,
            "tmp": tmp}


def test_two_input_model_exports_all_seven_variants_each_checked(two_input):
    assert two_input["code"] == 0, two_input["out"]
    manifest = read_manifest(two_input["bundle"])
    assert [a.key for a in manifest.artifacts] == SEVEN
    assert manifest.kind == "tensor" and manifest.preprocessing == {} and manifest.labels == []
    statuses = {a.key: a.status for a in manifest.artifacts}
    print("two-input model, status per variant:", statuses)
    for artifact in manifest.artifacts:
        outputs = {o["name"]: o for o in artifact.parity["outputs"]}
        assert outputs["topic"]["kind"] == "probabilities" and outputs["score"]["kind"] == "values", artifact.key
        score = outputs["score"]
        assert score["range"] > 0 and score["relative_diff"] == pytest.approx(score["max_abs_diff"] / score["range"])
        assert score["class_agreement"] is None  # no classes in a regression output
        assert artifact.parity["accuracy"] is not None and artifact.parity["class_agreement"] is not None
        assert artifact.status in ("passed", "failed") and (artifact.status == "passed") == (not artifact.parity["failures"])
    assert statuses["tflite-fp32"] == "passed" and statuses["onnx-fp32"] == "passed"
    fp32 = manifest.artifact("tflite-fp32").parity["outputs"]
    assert next(o for o in fp32 if o["name"] == "score")["relative_diff"] < 1e-4
    for key in SEVEN:
        assert f"] {key}" in two_input["out"]
    assert "score max|Δ|" in two_input["out"] and "of range" in two_input["out"]
    report = (two_input["bundle"] / "report.md").read_text()
    assert "score: values (no classes: agreement undefined), judged by max |Δ| relative to its range" in report


def test_values_range_is_keras_range_on_parity_samples(two_input):
    """The range a regression output is judged against is Keras' max − min on the samples it was checked on."""
    model, samples = two_input["model"], two_input["samples"]
    _, score = model.predict([samples["x_tokens"], samples["x_features"]], verbose=0)
    manifest = read_manifest(two_input["bundle"])
    checked = manifest.artifact("onnx-fp32").parity
    entry = next(o for o in checked["outputs"] if o["name"] == "score")
    assert checked["samples"] == 36  # 48 samples, a quarter (12) calibrate
    assert 0 < entry["range"] <= float(score.max() - score.min()) + 1e-6


def test_bundle_loads_and_runs_through_runtime(two_input):
    model, samples, bundle = two_input["model"], two_input["samples"], two_input["bundle"]
    x = {"tokens": samples["x_tokens"][:5], "features": samples["x_features"][:5]}
    topic, score = model.predict([x["tokens"], x["features"]], verbose=0)
    for key in ("tflite-fp32", "onnx-fp32"):
        loaded = runtime.load(bundle, variant=key)
        feeds = by_bare_name(loaded.input_specs, x)
        out = loaded.predict_tensor(feeds)
        ran = loaded.run(feeds)
        assert set(out) == set(ran) and len(out) == 2
        by_shape = {v.shape[1]: v for v in out.values()}
        np.testing.assert_allclose(by_shape[3], topic, atol=1e-5)
        np.testing.assert_allclose(by_shape[1], score, atol=1e-4)
        for name in out:
            np.testing.assert_allclose(ran[name], out[name], atol=1e-6)
        assert loaded.info()["input"] == "tensors only"
        with pytest.raises(UsageError, match="tensor-only bundle.*predict_tensor\\(\\) or run\\(\\)"):
            loaded.predict(["some text"])


def test_golden_samples_listed_hashed_and_replay(two_input):
    bundle = two_input["bundle"]
    manifest = read_manifest(bundle)
    listed = {f.path: f for f in manifest.files}
    for artifact in manifest.artifacts:
        entry = listed[f"golden/{artifact.key}.npz"]
        path = bundle / entry.path
        assert entry.size == path.stat().st_size and entry.sha256 == sha256_file(path)
        golden = read_golden(path.read_bytes(), entry.path)
        assert 2 <= len(next(iter(golden.inputs.values()))) <= 4 and golden.atol > 0
        replayed = runtime.load(bundle, variant=artifact.key).run(golden.inputs)
        assert set(replayed) == set(golden.outputs)
        for name, expected in golden.outputs.items():
            assert np.abs(replayed[name] - expected).max() <= golden.atol, (artifact.key, name)
    # the golden inputs are the first parity samples, in Keras' terms: the fp32 outputs match Keras
    golden = read_golden((bundle / "golden/onnx-fp32.npz").read_bytes(), "onnx-fp32")
    topic, _ = two_input["model"].predict([golden.inputs["tokens"], golden.inputs["features"]], verbose=0)
    np.testing.assert_allclose(golden.outputs["topic"], topic, atol=1e-5)


def test_samples_without_labels_say_no_labels(two_input, capsys):
    code, out, _, bundle = export_cli(two_input["tmp"], two_input["model"], two_input_samples(labels=False),
                                      ["tflite-fp32", "onnx-dynamic-int8"], capsys, name="unlabelled")
    assert code == 0, out
    assert out.count("no labels") >= 2
    for artifact in read_manifest(bundle).artifacts:
        p = artifact.parity
        assert p["accuracy"] is None and p["keras_accuracy"] is None and p["accuracy_delta_points"] is None
        assert p["labels"] == "no labels" and p["class_agreement"] is not None
    report = (bundle / "report.md").read_text()
    assert "| no labels | no labels |" in report and "Keras accuracy no labels" in report


def test_reexport_of_another_model_drops_stale_golden_files(two_input, capsys):
    tmp = two_input["tmp"]
    code, out, _, bundle = export_cli(tmp, two_input_model(1), two_input_samples(), ["tflite-fp32", "onnx-fp32"], capsys,
                                      name="again")
    assert code == 0, out
    assert (bundle / "golden/onnx-fp32.npz").is_file()
    code, out, _, bundle = export_cli(tmp, two_input_model(2), two_input_samples(), ["tflite-fp32"], capsys, name="again")
    assert code == 0, out
    manifest = read_manifest(bundle)
    assert [a.key for a in manifest.artifacts] == ["tflite-fp32"]
    assert [f.path for f in manifest.files] == ["golden/tflite-fp32.npz"]
    assert not (bundle / "golden/onnx-fp32.npz").exists() and not (bundle / "model.fp32.onnx").exists()


def test_saved_model_directory_exports(two_input, capsys):
    tmp = two_input["tmp"]
    saved = tmp / "saved"
    two_input["model"].export(saved, format="tf_saved_model", verbose=False)
    np.savez(tmp / "saved.npz", **two_input["samples"])
    out_dir = tmp / "saved-bundle"
    code = main([str(saved), "--samples", str(tmp / "saved.npz"), "--out", str(out_dir), "--variants",
                 "tflite-fp32,onnx-fp32", "--no-latency"])
    out = capsys.readouterr().out
    assert code == 0, out
    manifest = read_manifest(out_dir)
    assert manifest.source_model["format"] == "SavedModel"
    assert [a.status for a in manifest.artifacts] == ["passed", "passed"]
    # the SavedModel's signature names its outputs output_0 (topic) and output_1 (score)
    kinds = {o["name"]: o["kind"] for o in manifest.artifact("onnx-fp32").parity["outputs"]}
    assert kinds == {"output_0": "probabilities", "output_1": "values"}


@pytest.mark.parametrize("arrays, message", [
    ({"y": np.zeros(8, int)}, "need x_tokens, x_features"),
    ({"x_tokens": np.zeros((8, LENGTH + 1), np.int32), "x_features": np.zeros((8, FEATURES), np.float32)},
     "x_tokens has shape (8, 13), input 'tokens' takes (N, 12)"),
    ({"x_words": np.zeros((8, LENGTH), np.int32), "x_features": np.zeros((8, FEATURES), np.float32)},
     "the model's inputs (tokens, features) need x_tokens, x_features"),
    ({"x_tokens": np.zeros((8, LENGTH), np.int32), "x_features": np.zeros((8, FEATURES), np.float32), "x_extra": np.zeros(8)},
     "x_extra match no input of the model"),
    ({"x_tokens": np.zeros((8, LENGTH), np.int32), "x_features": np.zeros((7, FEATURES), np.float32)},
     "different numbers of samples"),
    ({"x_tokens": np.zeros((8, LENGTH), np.int32), "x_features": np.zeros((8, FEATURES), np.float32), "y": np.zeros(5)},
     "y must hold one class index per sample"),
])
def test_bad_samples_are_clear_errors(two_input, capsys, arrays, message):
    tmp = two_input["tmp"]
    np.savez(tmp / "bad.npz", **arrays)
    code = main([str(tmp / "two.keras"), "--samples", str(tmp / "bad.npz"), "--out", str(tmp / "bad-bundle")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err, err
    assert not (tmp / "bad-bundle").exists()


def test_samples_that_are_not_npz_and_options_without_samples(two_input, capsys):
    tmp = two_input["tmp"]
    (tmp / "notes.npz").write_text("not an archive")
    assert main([str(tmp / "two.keras"), "--samples", str(tmp / "notes.npz"), "--out", str(tmp / "x")]) == 2
    assert "is not a readable .npz archive" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([str(tmp / "two.keras"), "--out", str(tmp / "x")])
    assert "pass --samples SAMPLES.npz too" in capsys.readouterr().err


def test_labels_and_like_copy_preprocessing(two_input, tmp_path, capsys):
    """A single-input text model exported --like a bundle gets its kind, preprocessing, labels and vocabulary."""
    keras.utils.set_random_seed(3)
    tokens = keras.Input((LENGTH,), dtype="int32", name="tokens")
    pooled = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(WORDS, 8)(tokens))
    model = keras.Model(tokens, keras.layers.Dense(3, activation="softmax")(pooled))
    vocab = {f"w{i}": i for i in range(3, WORDS)}
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    spec = {"type": "text", "vocabulary": "vocab.json", "num_words": WORDS, "maxlen": LENGTH}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    (tmp_path / "labels.txt").write_text("earn\nacq\ncrude\n")
    model.save(tmp_path / "text.keras")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "text.npz", x=rng.integers(0, WORDS, (24, LENGTH)).astype(np.int32))
    first = tmp_path / "first"
    assert main([str(tmp_path / "text.keras"), "--samples", str(tmp_path / "text.npz"), "--out", str(first), "--variants",
                 "tflite-fp32", "--preprocessing", str(tmp_path / "spec.json"), "--vocab", str(tmp_path / "vocab.json"),
                 "--labels", str(tmp_path / "labels.txt"), "--no-latency"]) == 0, capsys.readouterr().out
    manifest = read_manifest(first)
    assert manifest.kind == "text" and manifest.labels == ["earn", "acq", "crude"]
    assert manifest.file_entry("vocab.json").sha256 == sha256_file(tmp_path / "vocab.json")
    second = tmp_path / "second"
    assert main([str(tmp_path / "text.keras"), "--samples", str(tmp_path / "text.npz"), "--out", str(second), "--variants",
                 "onnx-fp32", "--like", str(first), "--no-latency"]) == 0, capsys.readouterr().out
    loaded = runtime.load(second)
    assert loaded.info()["input"] == "raw items (text) or tensors" and loaded.labels == ["earn", "acq", "crude"]
    words = "w5 w7 w9 nothing"
    ids = np.array([[0] * (LENGTH - 5) + [1, 5, 7, 9, 2]], np.int32)  # start mark, the words' ids, 2 for unknown
    np.testing.assert_allclose(loaded.predict([words]), model.predict(ids, verbose=0), atol=1e-5)


@pytest.fixture(scope="module")
def mobilenet(tmp_path_factory):
    """MobileNetV2 at alpha 0.35, 96×96, random weights, exported to all seven variants through the CLI."""
    tmp = tmp_path_factory.mktemp("mobilenet")
    from tests.export.conftest import he_initialise

    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(weights=None, alpha=0.35, input_shape=(96, 96, 3), classes=3)
    he_initialise(model, 0)  # Keras' default draw makes a random MobileNet answer the same for every photo
    rng = np.random.default_rng(0)
    x = rng.uniform(-1.0, 1.0, (16, 96, 96, 3)).astype(np.float32)
    model.save(tmp / "mobilenet.keras")
    np.savez(tmp / "photos.npz", x=x, y=rng.integers(0, 3, 16))
    printed = StringIO()
    with redirect_stdout(printed):
        code = main([str(tmp / "mobilenet.keras"), "--samples", str(tmp / "photos.npz"), "--out", str(tmp / "bundle"),
                     "--no-latency", "--allow-failures"])
    return {"code": code, "out": printed.getvalue(), "bundle": tmp / "bundle", "model": model, "x": x}


@pytest.mark.slow
def test_mobilenet_exports_all_seven_variants_each_checked(mobilenet):
    assert mobilenet["code"] == 0, mobilenet["out"]
    manifest = read_manifest(mobilenet["bundle"])
    assert [a.key for a in manifest.artifacts] == SEVEN
    statuses = {a.key: a.status for a in manifest.artifacts}
    print("MobileNetV2 (random weights), status per variant:", statuses)
    for artifact in manifest.artifacts:  # each was measured against Keras on the 12 parity photos
        p = artifact.parity
        assert p["samples"] == 12 and p["class_agreement"] is not None and p["accuracy"] is not None, artifact.key
        assert p["keras_spread"] > 1e-3, "Keras answers the same for every photo: nothing would be compared"
        assert (artifact.status == "passed") == (not p["failures"]), artifact.key
    assert statuses["tflite-fp32"] == "passed" and statuses["onnx-fp32"] == "passed"
    for key in SEVEN:
        assert f"] {key}" in mobilenet["out"]


@pytest.mark.slow
def test_mobilenet_bundle_predicts_and_golden_samples_replay(mobilenet):
    bundle, x = mobilenet["bundle"], mobilenet["x"][:3]
    expected = mobilenet["model"].predict(x, verbose=0)
    manifest = read_manifest(bundle)
    for artifact in manifest.artifacts:
        loaded = runtime.load(bundle, variant=artifact.key)
        if artifact.variant == "fp32":
            np.testing.assert_allclose(loaded.predict_tensor(x), expected, atol=1e-5)
            ran = loaded.run({loaded.input_specs[0].name: x})
            np.testing.assert_allclose(next(iter(ran.values())), expected, atol=1e-5)
        entry = manifest.file_entry(f"golden/{artifact.key}.npz")
        assert entry is not None and entry.sha256 == sha256_file(bundle / entry.path)
        golden = read_golden((bundle / entry.path).read_bytes(), entry.path)
        replayed = loaded.run(golden.inputs)
        for name, stored in golden.outputs.items():
            assert np.abs(replayed[name] - stored).max() <= golden.atol, artifact.key


def test_export_model_in_memory_with_a_mapping_of_samples(two_input, tmp_path):
    from edgeport.export import ExportOptions, export_model

    samples = two_input_samples(labels=False)
    result = export_model(two_input["model"], samples, tmp_path / "mem",
                          options=ExportOptions(variants=["tflite-fp32"], measure_latency=False))
    assert result.failed == [] and result.manifest.source_model["sha256"] is None
    assert result.manifest.task == "model" and result.manifest.artifacts[0].parity["labels"] == "no labels"


def test_trained_bundles_get_golden_samples_too(small_imdb):
    from edgeport.export.bundle import export_bundle
    from edgeport.export.job import ExportOptions

    bundle, data = small_imdb
    export_bundle(bundle, ExportOptions(variants=["tflite-fp32", "onnx-fp32"], calibration_samples=32, measure_latency=False))
    export_bundle(bundle, ExportOptions(variants=["tflite-fp32"], calibration_samples=32, measure_latency=False))  # onnx-fp32 kept
    manifest = read_manifest(bundle)
    assert [a.key for a in manifest.artifacts] == ["tflite-fp32", "onnx-fp32"]
    golden_files = sorted(f.path for f in manifest.files if f.path.startswith("golden/"))
    assert golden_files == ["golden/onnx-fp32.npz", "golden/tflite-fp32.npz"]
    for artifact in manifest.artifacts:
        golden = read_golden((bundle / f"golden/{artifact.key}.npz").read_bytes(), artifact.key)
        (x,) = golden.inputs.values()
        np.testing.assert_array_equal(x, data.x_test[: len(x)])  # the first checked inputs, as fed
        loaded = runtime.load(bundle, variant=artifact.key)
        (expected,) = golden.outputs.values()
        assert np.abs(loaded.predict_tensor(x) - expected).max() <= golden.atol


def test_a_broken_saved_model_is_a_clear_error(two_input, tmp_path, capsys):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "saved_model.pb").write_bytes(b"not a SavedModel")
    np.savez(tmp_path / "s.npz", x=np.zeros((4, 3), np.float32))
    code = main([str(tmp_path / "broken"), "--samples", str(tmp_path / "s.npz"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "has no usable serving_default signature" in err and "Traceback" not in err, err
