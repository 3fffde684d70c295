"""Fuzzing in this process: raw text, tensors and manifests. Every failure is a `runtime.errors`
exception with a message; every answer has the shape, dtype and range it should.
(`EDGEPORT_FUZZ=fuzz` for the long run: `make fuzz`.)"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

pytest.importorskip("hypothesis")

from hypothesis import given, strategies as st  # noqa: E402

from edgeport import runtime  # noqa: E402
from edgeport.runtime.errors import EdgeportError, EngineUnsupportedError, ManifestError  # noqa: E402
from edgeport.runtime.manifest import manifest_from_bytes  # noqa: E402
from tests.runtime.fuzzing import expect_typed, mutated_manifest, tensors, text_batch  # noqa: E402
from tests.runtime.conftest import write_manifest_doc  # noqa: E402


@pytest.fixture(scope="module")
def text_models(text_binary, text_topics):
    return [runtime.load(b, variant=v) for b in (text_binary, text_topics) for v in ("tflite-fp32", "onnx-fp32")] + \
        [runtime.load(text_binary, variant="tflite-int8")]


def check_probabilities(p, n: int, model) -> None:
    classes = model.info()["outputs"][0]["shape"][-1]
    assert isinstance(p, np.ndarray) and p.dtype == np.float32 and p.shape == (n, classes), (p.shape, n)
    assert np.all(np.isfinite(p)) and np.all((p >= 0) & (p <= 1))


def test_raw_text_of_any_kind(text_models):
    @given(text_batch, st.integers(0, len(text_models) - 1))
    def prop(raw, which):
        model = text_models[which]
        p = expect_typed(model.predict, raw)
        if p is not None:
            n = 1 if isinstance(raw, (str, bytes)) else len(raw)
            check_probabilities(p, n, model)
            labels = model.classify(raw)
            assert len(labels) == n and all(label in model.labels for label, _ in labels)

    prop()


def test_tensors_of_any_dtype_shape_and_layout(text_binary, text_topics, image_bundle):
    models = [runtime.load(b, variant=v) for b in (text_binary, image_bundle)
              for v in ("tflite-fp32", "tflite-int8", "onnx-fp32")]
    try:  # tflite-runtime 2.14 has no kernel for it: the device environment skips it
        models.append(runtime.load(text_topics, variant="tflite-dynamic-int8"))
    except EngineUnsupportedError:
        pass

    @given(st.data(), st.integers(0, len(models) - 1))
    def prop(data, which):
        model = models[which]
        shape = tuple(model.info()["inputs"][0]["shape"][1:])
        text = model.manifest.kind == "text"
        x = data.draw(tensors(shape, model.manifest.preprocessing.get("num_words") if text else None))
        before = np.array(x, copy=True)
        y = expect_typed(model.predict_tensor, x)
        if y is not None:
            assert y.dtype == np.float32 and y.shape[0] == x.shape[0]
            if x.dtype.kind in "iu" or np.abs(np.asarray(x, np.float64)).max(initial=0) < 1e3:
                assert np.all(np.isfinite(y))  # (3.4e38 pixels may overflow inside the model: not a bug)
        np.testing.assert_array_equal(np.asarray(x), before)  # the caller's array is never changed

    prop()


def test_manifest_mutations_parse_or_are_refused(text_binary):
    good = json.loads((text_binary / "manifest.json").read_text())

    @given(mutated_manifest(good))
    def prop(data):
        try:
            manifest_from_bytes(data)
        except ManifestError as exc:
            assert str(exc).strip()

    prop()


def test_loading_a_bundle_with_a_mutated_manifest(text_binary, image_bundle, tmp_path):
    bundles = []
    for source in (text_binary, image_bundle):
        target = tmp_path / source.name
        shutil.copytree(source, target)
        bundles.append((target, json.loads((source / "manifest.json").read_text())))

    @given(st.data(), st.integers(0, 1))
    def prop(data, which):
        bundle, good = bundles[which]
        (bundle / "manifest.json").write_bytes(data.draw(mutated_manifest(good)))
        try:
            model = runtime.load(bundle)
        except EdgeportError as exc:
            assert str(exc).strip()
            return
        raw = ["a great film", "dull"] if model.manifest.kind == "text" else [np.zeros((8, 8, 3), np.uint8)]
        p = expect_typed(model.predict, raw)
        if p is not None:
            assert p.dtype == np.float32 and p.shape[0] == len(raw)

    prop()


@pytest.mark.parametrize("key,value", [("filters", 5), ("split", ""), ("split", 5), ("lowercase", "x"),
                                       ("start_char", "a"), ("start_char", 10**20), ("pad_char", None),
                                       ("oov_char", 2**40), ("split_pattern", "("),
                                       ("num_words", "x"), ("num_words", -5), ("skip_top", None),
                                       ("index_from", 1.5), ("maxlen", -1)])
def test_text_spec_fields_found_by_fuzzing_are_refused_at_load(key, value, text_binary, copy_bundle):
    """Each of these crashed inside the tokeniser (TypeError, ValueError, OverflowError) before."""
    bundle = copy_bundle(text_binary)
    doc = json.loads((bundle / "manifest.json").read_text())
    doc["preprocessing"][key] = value
    write_manifest_doc(bundle, doc)
    with pytest.raises(ManifestError, match=f"manifest.preprocessing.{key}"):
        runtime.load(bundle, variant="tflite-fp32").predict(["an unknown word"])
