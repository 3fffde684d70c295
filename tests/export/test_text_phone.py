"""Text on the phone: the runtime's "mediapipe" tokenisation against MediaPipe's own RegexTokenizer on generated
strings, and a raw-text model trained with `edgeport-train text` defaults answering in MediaPipe's TextClassifier
as it does in edgeport."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mediapipe.tasks.python.text", reason="needs edgeport[mobile]")
from hypothesis import given, settings, strategies as st  # noqa: E402

from edgeport.export.targets.mediapipe_parity import classify_texts, top1  # noqa: E402
from edgeport.export.targets.metadata import build_metadata, with_metadata  # noqa: E402
from edgeport.runtime.preprocess import TextPreprocessor  # noqa: E402
from edgeport.train.texts import text_spec  # noqa: E402

MAXLEN = 10
WORDS = ["the", "The", "THE", "don't", "a_b", "x1", "42", "'", "it's", "caf", "n"]
VOCABULARY = {w: i for i, w in enumerate(WORDS, 4)}
LABELS = [f"position{i}" for i in range(MAXLEN)]
# Delimiters of every kind: ASCII punctuation and space, and characters RE2 and Python's `\w` disagree on.
OTHER = st.sampled_from([" ", "  ", ",", ".", "-", "\t", "\n", "é", "ß", "Ω", "٣", "\u00a0", "\u2028", "\u0085", "😀", "<",
                         "\\", "[", "]", "^"])


@pytest.fixture(scope="module")
def echo_model(tmp_path_factory) -> Path:
    """A .tflite whose scores are its input ids (position i → label `position{i}`), with the metadata export
    writes for the "mediapipe" spec: MediaPipe's scores are then the ids its tokenizer made."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([1, MAXLEN], tf.int32)])
    def echo(ids):
        return tf.cast(ids, tf.float32)

    model = tf.lite.TFLiteConverter.from_concrete_functions([echo.get_concrete_function()], echo).convert()
    bundle = tmp_path_factory.mktemp("echo")
    (bundle / "vocab.json").write_text(json.dumps(VOCABULARY))
    task = {"kind": "text", "task": "echo", "labels": LABELS, "preprocessing": text_spec(len(WORDS) + 4, MAXLEN, "pre", "mediapipe")}
    metadata, files = build_metadata(task, bundle, MAXLEN)
    (bundle / "echo.tflite").write_bytes(with_metadata(model, metadata, files))
    return bundle / "echo.tflite"


def runtime_ids(texts: list[str]) -> np.ndarray:
    return TextPreprocessor(text_spec(len(WORDS) + 4, MAXLEN, "pre", "mediapipe"), VOCABULARY)(texts)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.one_of(st.sampled_from(WORDS), OTHER,
                                   st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                                           max_size=6)), max_size=14).map("".join), min_size=1, max_size=4))
def test_runtime_tokenises_as_mediapipe_regex_tokenizer(echo_model, texts):
    got = classify_texts(echo_model, texts, MAXLEN)
    np.testing.assert_array_equal(got.astype(np.int64), runtime_ids(texts))


def test_known_cases_by_hand(echo_model):
    texts = ["The the, don't zz é THE", "the " * 12, ""]
    expected = [[1, 5, 4, 7, 2, 6, 0, 0, 0, 0], [1] + [4] * 9, [1] + [0] * 9]  # start, case kept, cut and padded at the end
    np.testing.assert_array_equal(runtime_ids(texts), expected)
    np.testing.assert_array_equal(classify_texts(echo_model, texts, MAXLEN).astype(np.int64), expected)


def test_a_raw_text_model_trained_with_defaults_answers_in_text_classifier_as_in_edgeport(tmp_path):
    """Trained on a CSV by `edgeport-train text` (its default tokenisation; only the schedule shortened) and
    exported: MediaPipe's TextClassifier on held-out texts (case, punctuation, unknown words, long texts
    cut) gives edgeport's top-1, fp32 scores within 1e-4; export measured the same in parity.mediapipe."""
    import csv

    from edgeport import runtime
    from edgeport.export.bundle import export_bundle
    from edgeport.export.job import ExportOptions
    from edgeport.runtime.manifest import read_manifest
    from edgeport.train import cli

    rng = np.random.RandomState(0)
    topics = {"sport": "match goal team won played score Goal Team", "weather": "rain sunny storm wind cold Warm Rain"}
    common = "the a and it's was very today Today".split()

    def text(label: str, n: int) -> str:
        words = rng.choice(topics[label].split() + common + ["Zebra", "qux'"], n)
        return "".join(w + rng.choice([" ", ", ", ". ", "! ", " - "]) for w in words)

    rows = [(text(label, rng.randint(3, 30)), label) for _ in range(60) for label in topics]
    with (tmp_path / "t.csv").open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([("text", "label"), *rows])
    out = tmp_path / "out"
    assert cli.main(["text", "--data", str(tmp_path / "t.csv"), "--out", str(out), "--epochs", "40", "--maxlen", "16",
                     "--embedding-dim", "8", "--quiet"]) == 0
    result = export_bundle(out, ExportOptions(formats=["tflite"]))  # every .tflite variant; latency on, as the CLI does
    assert result.failed == []
    held = [text(label, rng.randint(1, 40)) for _ in range(50) for label in topics]
    truth = np.asarray([label == "weather" for _ in range(50) for label in topics])
    for variant in ("fp32", "fp16", "dynamic-int8", "int8"):  # each file as it is: int8's output is uint8
        ours = runtime.load(out, variant=f"tflite-{variant}").predict(held)
        phone = classify_texts(out / f"model.{variant}.tflite", held, ours.shape[-1])
        assert np.mean(top1(ours) == top1(phone)) >= 0.99 and np.mean(top1(ours) == truth) > 0.9, variant
        if variant == "fp32":
            np.testing.assert_allclose(phone, ours, atol=1e-4)
    parity = {a.variant: a.parity["mediapipe"] for a in read_manifest(out).artifacts}
    assert parity["fp32"]["engine"] == "mediapipe TextClassifier" and parity["fp32"]["class_agreement"] >= 0.99
    assert parity["fp32"]["max_abs_diff"] < 1e-4 and parity["dynamic-int8"]["samples"] > 0
    assert parity["int8"]["runtime_class_agreement"] == 1.0 and parity["int8"]["runtime_max_abs_diff"] == 0.0
    assert all(a.parity["engine_latency_ms_median"] > 0 for a in read_manifest(out).artifacts)  # both kept side by side


def test_a_keras_tokenised_bundle_is_not_run_through_text_classifier(tmp_path):
    from edgeport.export.checks import CheckData
    from edgeport.export.targets.mediapipe_parity import text_parity, tokenised_as_mediapipe

    keras_style, phone = text_spec(104, MAXLEN, "pre", "keras"), text_spec(104, MAXLEN, "pre", "mediapipe")
    assert (tokenised_as_mediapipe(keras_style), tokenised_as_mediapipe(phone)) == (False, True)
    check = CheckData([], [], [], [], x_agreement=np.zeros((3, MAXLEN)), agreement_reference=np.zeros((3, 1)))
    result = text_parity(tmp_path / "model.fp32.tflite", "tflite-fp32", check, lambda x: np.zeros((len(x), 1)), keras_style, {})
    assert result.samples == 0 and result.error.startswith("not phone-ready")
