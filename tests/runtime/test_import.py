"""`edgeport-run import`: a bundle around a model file made elsewhere, for raw texts and photos. The runtime's
answers are compared with the engine called directly on inputs written out by hand here."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from edgeport import runtime
from edgeport.runtime.bundle_reader import BundleFiles
from edgeport.runtime.errors import ModelFileError, UsageError
from edgeport.runtime.golden import read_golden, tolerance
from edgeport.runtime.importer import ImageOptions, TextOptions, import_model
from edgeport.runtime.manifest import read_manifest, sha256_file
from tests.runtime.conftest import run_cli
from tests.runtime.direct_engines import onnx_run, tflite_dequantized, tflite_run
from tests.runtime.make_thirdparty import IMAGE_CLASSES, IMAGE_SIZE, TEXT_CLASSES

# TFLite Model Maker's vocabulary format: `word id` per line, its special tokens first
WORD_ID_LINES = ["<PAD> 0", "<START> 1", "<UNKNOWN> 2", "<UNUSED> 3", "the 4", "a 5", "film 6", "great 7",
                 "it's 8", "dull 9", "plot 10", "long 11"]
MODEL_MAKER = ["--start-token", "<START>", "--oov-token", "<UNKNOWN>", "--pad-token", "<PAD>",
               "--padding", "post", "--truncating", "post", "--split", "words"]
TOPICS = ["negative", "neutral", "positive"]


@pytest.fixture
def vocab_file(tmp_path: Path) -> Path:
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(WORD_ID_LINES) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def labels_file(tmp_path: Path) -> Path:
    path = tmp_path / "labels.txt"
    path.write_text("\n".join(TOPICS) + "\n\n", encoding="utf-8")
    return path


def _engine_on_ids(model_file: Path, rows: list[list[int]]) -> np.ndarray:
    """The engine on hand-made word ids, as float32 (the model's input type), one row per call (batch 1)."""
    return np.concatenate([tflite_run(model_file, [np.array([row], np.float32)])[0] for row in rows])


def _no_bundle_left(out: Path) -> None:
    assert not out.exists()
    assert not [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]


# ---------------------------------------------------------------- text


def test_text_model_from_elsewhere_predicts_raw_strings(thirdparty, vocab_file, labels_file, tmp_path):
    source, out = thirdparty / "text_float_ids.tflite", tmp_path / "topics"
    done = run_cli("import", source, "--out", out, "--vocab", vocab_file, "--labels", labels_file, *MODEL_MAKER)
    assert done.returncode == 0, done.stderr
    assert "tflite-fp32" in done.stdout and "negative, neutral, positive" in done.stdout

    texts = ["A great film!", "It's DULL, zzz; the plot", "the a the a the a the a the", ""]
    ids = [[1, 5, 7, 6, 0, 0, 0, 0],  # <START> a great film, then <PAD> after
           [1, 8, 9, 2, 4, 10, 0, 0],  # it's dull <UNKNOWN> the plot
           [1, 4, 5, 4, 5, 4, 5, 4],  # cut after 8 ids
           [1, 0, 0, 0, 0, 0, 0, 0]]
    want = _engine_on_ids(source, ids)
    model = runtime.load(out)
    np.testing.assert_array_equal(model.predict(texts), want)
    assert model.classify(texts[:1]) == [(TOPICS[int(want[0].argmax())], float(want[0].max()))]
    assert model.info()["inputs"][0]["dtype"] == "float32" and want.shape == (4, TEXT_CLASSES)

    manifest = read_manifest(out)
    artifact = manifest.artifacts[0]
    assert (manifest.kind, artifact.key, artifact.status) == ("text", "tflite-fp32", "unchecked")
    assert artifact.sha256 == sha256_file(source) and (out / artifact.file).read_bytes() == source.read_bytes()
    assert {f.path for f in manifest.files} == {"vocab.json", "labels.json"} and manifest.labels == TOPICS
    assert json.loads((out / "vocab.json").read_text())["<UNUSED>"] == 3

    done = run_cli("predict", out, "--json", texts[0])
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)["results"][0]
    assert result["probabilities"] == dict(zip(TOPICS, want[0].tolist()))


def test_json_vocabulary_pads_with_its_own_id_and_leaves_unknown_words_out(thirdparty, tmp_path):
    source = thirdparty / "text_float_ids.tflite"
    vocab = tmp_path / "words.json"
    vocab.write_text(json.dumps({"[PAD]": 3, "<s>": 4, "the": 5, "Film": 6, "film": 7, "great": 8}))
    texts = ["The great FILM", "zzz the zzz Film great film the the the the the"]
    lower = import_model(source, tmp_path / "lower", text=TextOptions(str(vocab), pad_token="[PAD]", start_token="<s>"))
    assert lower.preprocessing["oov_char"] is None
    np.testing.assert_array_equal(runtime.load(tmp_path / "lower").predict(texts), _engine_on_ids(source, [
        [3, 3, 3, 3, 4, 5, 8, 7],  # padded before with [PAD] = 3
        [7, 8, 7, 5, 5, 5, 5, 5]]))  # unknown words left out, then cut before: <s> goes with the cut
    import_model(source, tmp_path / "cased", text=TextOptions(str(vocab), pad_token="[PAD]", lowercase=False))
    np.testing.assert_array_equal(runtime.load(tmp_path / "cased").predict(texts), _engine_on_ids(source, [
        [3, 3, 3, 3, 3, 3, 3, 8],  # "The" and "FILM" are unknown with case kept; no start token
        [6, 8, 7, 5, 5, 5, 5, 5]]))


def test_word_ids_range_is_checked_for_a_float_input(thirdparty, vocab_file, tmp_path):
    import_model(thirdparty / "text_float_ids.tflite", tmp_path / "b", text=TextOptions(str(vocab_file)))
    model = runtime.load(tmp_path / "b")
    ok = np.array([[1, 4, 5, 6, 0, 0, 0, 0]], np.int32)
    np.testing.assert_array_equal(model.predict_tensor(ok), _engine_on_ids(thirdparty / "text_float_ids.tflite",
                                                                           ok.tolist()))
    with pytest.raises(runtime.errors.ValueRangeError, match="token id 12"):
        model.predict_tensor(np.array([[1, 4, 12, 0, 0, 0, 0, 0]], np.int32))  # the vocabulary's ids end at 11


# ---------------------------------------------------------------- images


def _photos(folder: Path) -> list[Path]:
    from PIL import Image

    rng = np.random.default_rng(7)
    paths = []
    for i, (height, width) in enumerate([(31, 45), (24, 24), (60, 17)]):
        path = folder / f"photo {i}.png"
        Image.fromarray(rng.integers(0, 256, (height, width, 3)).astype(np.uint8)).save(path)
        paths.append(path)
    return paths


@pytest.mark.parametrize("name", ["image_uint8", "image_uint8_int8"])
def test_uint8_image_model_is_fed_the_raw_resized_pixels(thirdparty, tmp_path, name):
    from PIL import Image

    source, out = thirdparty / f"{name}.tflite", tmp_path / "pets"
    labels = [f"class {i}" for i in range(IMAGE_CLASSES)]
    (tmp_path / "labels.json").write_text(json.dumps(labels))
    done = run_cli("import", source, "--out", out, "--normalization", "none", "--labels", tmp_path / "labels.json")
    assert done.returncode == 0, done.stderr
    photos = _photos(tmp_path)
    pixels = [np.asarray(Image.open(p).convert("RGB").resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR)) for p in photos]
    want = np.concatenate([tflite_dequantized(source, tflite_run(source, [x[None]])[0]) for x in pixels])
    model = runtime.load(out)
    np.testing.assert_array_equal(model.predict(photos), want)
    assert [label for label, _ in model.classify(photos)] == [labels[i] for i in want.argmax(axis=1)]
    assert model.info()["variant"] == ("tflite-int8" if name == "image_uint8_int8" else "tflite-fp32")


def test_image_options_reach_the_preprocessing(thirdparty, tmp_path):
    source = thirdparty / "image_uint8.tflite"
    manifest = import_model(source, tmp_path / "b", image=ImageOptions(interpolation="nearest"))
    assert manifest.preprocessing == {"type": "image", "size": [IMAGE_SIZE, IMAGE_SIZE], "interpolation": "nearest",
                                      "color_mode": "rgb", "normalization": "none", "dtype": "uint8"}
    photo = np.random.default_rng(1).integers(0, 256, (48, 48, 3)).astype(np.uint8)
    nearest = photo[1::2, 1::2]  # Pillow's nearest filter halves a 48-pixel side by taking every odd pixel
    want = tflite_run(source, [nearest[None]])[0]
    np.testing.assert_array_equal(runtime.load(tmp_path / "b").predict([photo]), want)


def test_onnx_float_image_model_with_unit_normalization_and_golden_samples(thirdparty, tmp_path):
    from PIL import Image

    source, out = thirdparty / "image_float.onnx", tmp_path / "b"
    samples = np.random.default_rng(4).random((10, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.float32)
    np.savez(tmp_path / "samples.npz", x=samples)
    with pytest.raises(UsageError, match="pass --normalization"):  # a float input says nothing of its scale
        import_model(source, out, image=ImageOptions())
    manifest = import_model(source, out, image=ImageOptions(normalization="unit"), samples=tmp_path / "samples.npz")
    assert manifest.artifacts[0].key == "onnx-fp32" and manifest.preprocessing["normalization"] == "unit"
    photos = _photos(tmp_path)
    pixels = np.stack([np.asarray(Image.open(p).convert("RGB").resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR))
                       for p in photos]).astype(np.float32) / 255
    np.testing.assert_array_equal(runtime.load(out).predict(photos), onnx_run(source, {"pixels": pixels})[0])
    with BundleFiles(out) as files:
        golden = read_golden(files.listed(manifest, "golden/onnx-fp32.npz", "golden"), "golden")
    np.testing.assert_array_equal(golden.inputs["pixels"], samples[:4])  # a free batch axis: four items kept
    np.testing.assert_array_equal(next(iter(golden.outputs.values())), onnx_run(source, {"pixels": samples[:4]})[0])


# ---------------------------------------------------------------- golden samples


def test_samples_record_golden_outputs_listed_and_tamper_evident(thirdparty, tmp_path):
    source, out = thirdparty / "image_uint8_int8.tflite", tmp_path / "b"
    samples = np.random.default_rng(2).integers(0, 256, (3, IMAGE_SIZE, IMAGE_SIZE, 3)).astype(np.uint8)
    np.savez(tmp_path / "samples.npz", x=samples, y=np.zeros(3))
    done = run_cli("import", source, "--out", out, "--samples", tmp_path / "samples.npz")
    assert done.returncode == 0, done.stderr
    manifest = read_manifest(out)
    entry = manifest.file_entry("golden/tflite-int8.npz")
    assert entry is not None and entry.sha256 == sha256_file(out / entry.path)
    with BundleFiles(out) as files:
        golden = read_golden(files.listed(manifest, entry.path, "golden"), entry.path)
    input_name, output_name = manifest.artifacts[0].inputs[0].name, manifest.artifacts[0].outputs[0].name
    np.testing.assert_array_equal(golden.inputs[input_name], samples[:1])  # the model takes batches of 1
    want = tflite_dequantized(source, tflite_run(source, [samples[:1]])[0])
    np.testing.assert_array_equal(golden.outputs[output_name], want)
    assert golden.atol == tolerance("int8", {output_name: want}) > 0

    data = bytearray((out / entry.path).read_bytes())
    data[-30] ^= 0xFF
    (out / entry.path).write_bytes(bytes(data))
    with BundleFiles(out) as files, pytest.raises(ModelFileError, match="sha256 of golden/tflite-int8.npz"):
        files.listed(manifest, entry.path, "golden")
    with pytest.raises(ModelFileError, match="golden/tflite-int8.npz"):
        runtime.load(out)  # every listed file is checked at load, golden samples too


# ---------------------------------------------------------------- refusals


BAD_OPTIONS = {
    "unknown token": (["--vocab", "{vocab}", "--start-token", "<BOS>"], "'<BOS>' is not in the vocabulary"),
    "unreadable vocabulary": (["--vocab", "{missing}"], "cannot read the vocabulary file"),
    "bad vocabulary line": (["--vocab", "{labels}"], "expected `word id`"),
    "image options for a text model": (["--vocab", "{vocab}", "--image-size", "8", "8"], "--image-size is an image option"),
    "wrong maxlen": (["--vocab", "{vocab}", "--maxlen", "5"], "use 8 (the default)"),
    "labels of another model": (["--vocab", "{vocab}", "--labels", "{vocab}"], "holds 12 labels"),
    "bad split rule": (["--vocab", "{vocab}", "--split", "commas"], "--split 'commas'"),
}
BAD_IMAGE_OPTIONS = {
    "text options for an image model": (["--maxlen", "8"], "--maxlen is a text option: pass --vocab"),
    "scaled floats for raw uint8": (["--normalization", "mobilenet"], "only raw uint8 pixels fit"),
    "mean without std": (["--mean", "1", "2", "3"], "--mean and --std go together"),
    "other image size": (["--image-size", "32", "32"], "use 24 24 (the default)"),
    "samples of another model": (["--samples", "{samples}"], "use x (and optionally y)"),
}


@pytest.mark.parametrize("model,case", [("text_float_ids", c) for c in BAD_OPTIONS] +
                         [("image_uint8", c) for c in BAD_IMAGE_OPTIONS])
def test_bad_options_exit_2_and_leave_no_bundle(thirdparty, vocab_file, labels_file, tmp_path, model, case):
    np.savez(tmp_path / "other.npz", x_tokens=np.zeros((1, 8), np.float32))
    args, message = {**BAD_OPTIONS, **BAD_IMAGE_OPTIONS}[case]
    names = {"vocab": vocab_file, "labels": labels_file, "missing": tmp_path / "nowhere.txt",
             "samples": tmp_path / "other.npz"}
    out = tmp_path / "out" / "bundle"
    done = run_cli("import", thirdparty / f"{model}.tflite", "--out", out, *[a.format(**names) for a in args])
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_a_model_that_is_neither_text_nor_image_is_refused(thirdparty, tmp_path):
    with pytest.raises(UsageError, match="pass --vocab .* or image options.*Model.run"):
        import_model(thirdparty / "two_inputs.onnx", tmp_path / "b")
    _no_bundle_left(tmp_path / "b")


def test_onnx_with_external_data_is_imported_with_its_data_listed(thirdparty, tmp_path):
    onnx = pytest.importorskip("onnx")
    source = thirdparty / "image_float.onnx"
    proto = onnx.load(str(source))
    (tmp_path / "weights").mkdir()
    onnx.save_model(proto, str(tmp_path / "split.onnx"), save_as_external_data=True, location="weights/split.data",
                    size_threshold=64)  # the weights out, the small shape constants in (onnxruntime reads those early)
    data = (tmp_path / "weights" / "split.data").read_bytes()
    assert len(data) >= 600  # the weights really are outside the model file
    out = tmp_path / "b"
    manifest = import_model(tmp_path / "split.onnx", out, image=ImageOptions(normalization="unit"))
    entry = manifest.file_entry("weights/split.data")
    assert entry is not None and entry.size == len(data) and (out / "weights" / "split.data").read_bytes() == data
    photos = _photos(tmp_path)
    want = onnx_run(source, {"pixels": runtime.load(out).preprocess(photos)})[0]  # the whole file, run directly
    np.testing.assert_array_equal(runtime.load(out).predict(photos), want)
    (out / "weights" / "split.data").write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(ModelFileError, match="split.data"):
        runtime.load(out)

    (tmp_path / "weights" / "split.data").unlink()
    with pytest.raises(UsageError, match="not a file beside it"):
        import_model(tmp_path / "split.onnx", tmp_path / "c", image=ImageOptions(normalization="unit"))
    _no_bundle_left(tmp_path / "c")


def test_a_directory_that_is_no_bundle_is_not_replaced(thirdparty, vocab_file, tmp_path):
    out = tmp_path / "photos"
    out.mkdir()
    (out / "holiday.txt").write_text("mine")
    done = run_cli("import", thirdparty / "text_float_ids.tflite", "--out", out, "--vocab", vocab_file)
    assert done.returncode == 2 and "holds no bundle" in done.stderr
    assert [p.name for p in out.iterdir()] == ["holiday.txt"]


# ---------------------------------------------------------------- replacing a bundle


def test_import_over_a_bundle_replaces_it_whole_or_not_at_all(thirdparty, vocab_file, labels_file, tmp_path):
    out = tmp_path / "b"
    import_model(thirdparty / "text_float_ids.tflite", out, text=TextOptions(str(vocab_file)), labels=labels_file)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    bad_samples = tmp_path / "bad.npz"  # valid keys, wrong shape: found only when the staged bundle runs them
    np.savez(bad_samples, x=np.zeros((1, 5), np.float32))
    with pytest.raises(runtime.errors.ShapeError):
        import_model(thirdparty / "image_uint8.tflite", out, image=ImageOptions(), samples=bad_samples)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(os.listdir(tmp_path)) == ["b", "bad.npz", "labels.txt", "vocab.txt"]  # no staging left

    import_model(thirdparty / "image_uint8.tflite", out, image=ImageOptions())
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "model.fp32.tflite"]  # vocab and labels gone
    assert read_manifest(out).kind == "image" and runtime.load(out).predict(_photos(tmp_path)).shape == (3, 4)


# ---------------------------------------------------------------- the spec fields import writes


WORDS = {"<pad>": 7, "<s>": 1, "the": 2, "film": 3, "great": 4, "it's": 5}


def test_split_pattern_oov_left_out_and_pad_id():
    from edgeport.runtime.preprocess import TextPreprocessor

    spec = {"maxlen": 6, "padding": "post", "truncating": "post", "start_char": 1, "oov_char": None, "pad_char": 7,
            "split_pattern": r"[^\w']+"}
    text = TextPreprocessor(spec, WORDS)
    assert text.words("It's a GREAT-film!") == ["it's", "a", "great", "film"]
    assert text.token_ids("It's a GREAT-film!") == [1, 5, 4, 3]  # "a" is unknown: left out
    np.testing.assert_array_equal(text(["the film", "zzz " * 3 + "the the the the the the"]),
                                  [[1, 2, 3, 7, 7, 7], [1, 2, 2, 2, 2, 2]])
    # a text far longer than the early cut keeps the ids of the whole text, unknown words or not
    long = "film great " + "zzz " * 5000 + "the"
    for truncating, ids in (("post", [1, 3, 4, 2]), ("pre", [1, 3, 4, 2])):
        cut = TextPreprocessor({**spec, "truncating": truncating}, WORDS)
        assert cut.kept_ids(long) == cut.token_ids(long) == ids
    whitespace = TextPreprocessor({**spec, "split_pattern": r"\s+", "oov_char": 0}, WORDS)
    assert whitespace.token_ids("the\tfilm, great") == [1, 2, 0, 4]  # "film," is one (unknown) word


@pytest.mark.parametrize("field,value", [("split_pattern", "(a)|b"), ("split_pattern", "["), ("pad_char", -1),
                                         ("oov_char", "<unk>")])
def test_bad_text_spec_fields_are_refused(field, value):
    from edgeport.runtime.preprocess import TextPreprocessor

    with pytest.raises(runtime.errors.ManifestError, match=f"preprocessing.{field}"):
        TextPreprocessor({"maxlen": 4, field: value}, WORDS)


def test_normalizations():
    from edgeport.runtime.preprocess import ImagePreprocessor, normalize

    x = np.array([[[0.0, 127.5, 255.0]]], np.float32)
    np.testing.assert_array_equal(normalize(x.copy(), "unit"), [[[0.0, 0.5, 1.0]]])
    np.testing.assert_allclose(normalize(x.copy(), "imagenet-caffe"), [[[255 - 103.939, 127.5 - 116.779, -123.68]]],
                               rtol=1e-6)
    np.testing.assert_array_equal(normalize(x.copy(), "mean-std", [0, 127.5, 55], [1, 2.5, 50]), [[[0, 0, 4]]])
    base = {"size": [4, 4], "normalization": "mean-std", "mean": [1, 2, 3]}
    for spec, message in (({**base, "std": [1, 0, 1]}, "std must be above 0"), (base, "std must be three numbers"),
                          ({"size": [4, 4], "normalization": "unit", "dtype": "uint8"}, "uint8 with normalization none")):
        with pytest.raises(runtime.errors.ManifestError, match=message):
            ImagePreprocessor(spec)


@pytest.mark.parametrize("mode", ["caffe", "torch"])
def test_normalizations_equal_keras_preprocess_input(mode):
    keras = pytest.importorskip("keras")
    from edgeport.runtime.preprocess import normalize

    pixels = np.random.default_rng(0).integers(0, 256, (2, 5, 5, 3)).astype(np.float32)
    want = keras.applications.imagenet_utils.preprocess_input(pixels.copy(), mode=mode)
    if mode == "caffe":
        ours = normalize(pixels.copy(), "imagenet-caffe")
    else:  # torch: x / 255, less mean, over std; the same in pixel units
        ours = normalize(pixels.copy(), "mean-std", [0.485 * 255, 0.456 * 255, 0.406 * 255],
                         [0.229 * 255, 0.224 * 255, 0.225 * 255])
    np.testing.assert_allclose(ours, want, rtol=1e-5, atol=1e-5)
