"""TFLite metadata: every `.tflite` of a bundle carries it (read back here with the schema and zipfile, not
through the writer), MediaPipe's ImageClassifier loads the files as they are, and the runtime still runs them."""

from __future__ import annotations

import numpy as np
import pytest

from edgeport.runtime import load
from edgeport.runtime.manifest import read_manifest

meta = pytest.importorskip("mediapipe.tasks.metadata.metadata_schema_py_generated", reason="needs edgeport[mobile]")
from edgeport.export.targets.metadata import read_metadata  # noqa: E402


def _input_unit(model):
    return model.subgraphMetadata[0].inputTensorMetadata[0].processUnits[0]


def test_image_metadata_round_trips_labels_and_normalisation(exported):
    e = exported("pets")
    manifest = read_manifest(e.bundle)
    tflite = [a for a in manifest.artifacts if a.format == "tflite"]
    assert {a.variant for a in tflite} == {"fp32", "fp16", "dynamic-int8", "int8"}
    for artifact in tflite:
        model, files = read_metadata(e.bundle / artifact.file)
        unit = _input_unit(model)
        assert unit.optionsType == meta.ProcessUnitOptions.NormalizationOptions
        # mobilenet: x/127.5 - 1; the int8 file takes the pixels as they are (its normalisation inside)
        expected = ([0.0] * 3, [1.0] * 3) if artifact.variant == "int8" else ([127.5] * 3, [127.5] * 3)
        assert (list(unit.options.mean), list(unit.options.std)) == expected
        content = model.subgraphMetadata[0].inputTensorMetadata[0].content
        assert content.contentProperties.colorSpace == meta.ColorSpaceType.RGB
        labels = model.subgraphMetadata[0].outputTensorMetadata[0].associatedFiles[0]
        assert (labels.name.decode(), labels.type) == ("labels.txt", meta.AssociatedFileType.TENSOR_AXIS_LABELS)
        assert files["labels.txt"].decode().split("\n") == ["cats", "dogs", "horses", ""]
        assert artifact.converter["metadata"].startswith("TFLite metadata")


def test_text_metadata_round_trips_the_tokenizer_and_vocabulary(exported):
    e = exported("imdb")
    vocab = __import__("json").loads((e.bundle / "vocab.json").read_text())
    model, files = read_metadata(e.bundle / "model.fp32.tflite")
    unit = _input_unit(model)
    assert unit.optionsType == meta.ProcessUnitOptions.RegexTokenizerOptions
    assert unit.options.vocabFile[0].type == meta.AssociatedFileType.VOCABULARY
    lines = dict(line.rsplit(" ", 1) for line in files["vocab.txt"].decode().split("\n") if line)
    assert (lines["<PAD>"], lines["<START>"], lines["<UNKNOWN>"]) == ("0", "1", "2")
    some = sorted(vocab, key=vocab.get)[:50]
    assert all(int(lines[w]) == vocab[w] for w in some if vocab[w] < 10000)
    assert model.minParserVersion.decode() == "1.2.1"


def test_files_with_metadata_still_answer_like_keras_through_the_runtime(exported):
    e = exported("pets")
    for artifact in read_manifest(e.bundle).artifacts:
        assert artifact.status == "passed", (artifact.key, artifact.parity.get("failures"))
    x = e.data.x_test[:8]
    np.testing.assert_allclose(load(e.bundle, variant="tflite-fp32").predict_tensor(x), e.model.predict(x, verbose=0), atol=1e-5)


def test_mediapipe_image_classifier_loads_every_tflite_file_as_it_is(exported):
    vision = pytest.importorskip("mediapipe.tasks.python.vision")
    from mediapipe.tasks.python.core.base_options import BaseOptions

    e = exported("pets")
    for name in ("fp32", "fp16", "dynamic-int8", "int8"):
        options = vision.ImageClassifierOptions(base_options=BaseOptions(model_asset_path=str(e.bundle / f"model.{name}.tflite")))
        with vision.ImageClassifier.create_from_options(options) as classifier:
            import mediapipe as mp

            image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.full((64, 64, 3), 200, np.uint8))
            categories = classifier.classify(image).classifications[0].categories
            assert {c.category_name for c in categories} <= {"cats", "dogs", "horses"} and categories


def test_export_measures_each_tflite_variant_through_mediapipe(exported):
    e = exported("pets")
    manifest = read_manifest(e.bundle)
    phone = {a.variant: a.parity["mediapipe"] for a in manifest.artifacts if a.format == "tflite"}
    for name in ("fp32", "fp16", "dynamic-int8", "int8"):
        assert phone[name]["samples"] == len(e.data.x_test) and phone[name]["class_agreement"] >= 0.99, (name, phone[name])
        assert phone[name]["runtime_class_agreement"] >= 0.99, (name, phone[name])
    assert phone["fp32"]["max_abs_diff"] < 1e-4
    # The int8 file takes the pixels themselves: MediaPipe computes the runtime's very integers.
    assert phone["int8"]["runtime_max_abs_diff"] == 0.0
    # Independently: MediaPipe's fp32 scores on a few of the same pixels equal Keras' on them.
    import mediapipe as mp
    from mediapipe.tasks.python.core.base_options import BaseOptions
    from mediapipe.tasks.python.vision import ImageClassifier, ImageClassifierOptions

    pixels = np.clip(np.rint((e.data.x_test[:6].astype(np.float64) + 1.0) * 127.5), 0, 255).astype(np.uint8)
    keras_p = e.model.predict((pixels / 127.5 - 1.0).astype(np.float32), verbose=0)
    options = ImageClassifierOptions(base_options=BaseOptions(model_asset_path=str(e.bundle / "model.fp32.tflite")))
    with ImageClassifier.create_from_options(options) as classifier:
        for image, expected in zip(pixels, keras_p):
            got = {c.category_name: c.score for c in classifier.classify(
                mp.Image(image_format=mp.ImageFormat.SRGB, data=image)).classifications[0].categories}
            np.testing.assert_allclose([got[n] for n in ("cats", "dogs", "horses")], expected, atol=1e-4)


def test_the_same_model_gets_the_same_bytes_at_any_time(exported, monkeypatch):
    import time

    from edgeport.export.targets.metadata import with_metadata

    e = exported("pets")
    artifact = next(a for a in read_manifest(e.bundle).artifacts if a.key == "tflite-fp32")
    model, files = read_metadata(e.bundle / artifact.file)
    data = (e.bundle / artifact.file).read_bytes()
    stamped = []
    for moment in (0.0, 1e9):  # 1970 and 2001: zip entries dated by the clock would differ
        monkeypatch.setattr(time, "time", lambda moment=moment: moment)
        stamped.append(with_metadata(data, b"metadata", files))
    assert stamped[0] == stamped[1]
