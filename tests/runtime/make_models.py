"""Small trained models and bundles for the runtime tests, written by edgeport's own export. Needs TensorFlow
(the main environment).

    python tests/runtime/make_models.py OUTDIR

Each model is built and trained here on data made here, saved as `train` saves a bundle (keras/model.keras,
keras/task.json, vocab.json or labels.json) and exported by `edgeport.export.bundle.export_bundle`, the path
`edgeport-export` takes: the model files, their manifest (tensor specs included) and the parity checks are
export's own, so the device suites run on what export writes. `make test` runs this once, then points both
test environments at OUTDIR through $EDGEPORT_RUNTIME_MODELS; without it, the tests' fixtures call
`build_all` themselves.

OUTDIR/
  text_binary/   Embedding → Flatten → Dense(1, sigmoid); tflite-fp32, tflite-int8, onnx-fp32
  text_topics/   Embedding → Flatten → Dense(32) → Dense(5, softmax); tflite-fp32, tflite-dynamic-int8, onnx-fp32
  image/         Conv → GAP → Dense(3, softmax) on 32×32; tflite-fp32, tflite-int8 (uint8 pixels in, uint8 out:
                 the phone file export writes), onnx-fp32
  image_int8io/  the same bundle with the converter's own tflite-int8 file (int8 input and output), as bundles
                 exported before the phone edges and imported full-integer models have it: the runtime quantises
                 its floats and looks its pixels up in its table
  own_two_input/ a model written outside edgeport, exported by `edgeport.export.export_model` with samples (no
                 preprocessing: tensors in): token ids (tokens) and 4 floats (features) → topic (softmax over 3)
                 and score (regression); all seven variants (fp32 must pass); golden samples per artifact
  bare/          text_batch1.{tflite,onnx} (batch fixed at 1), image_int8_floatio.tflite (int8 inside, float I/O),
                 written by export's format modules
  images/        photos with awkward names, and what Keras predicts for them
  thirdparty/    model files as they come from elsewhere (tests/runtime/make_thirdparty.py)
  */expected.npz Keras' own outputs on fixed inputs
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import sys
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType, SimpleNamespace

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

NUM_WORDS, MAXLEN, INDEX_FROM = 50, 20, 3
WORDS = ["the", "a", "film", "and", "it's", "plot", "acting", "story", "great", "fun", "good", "wonderful",
         "dull", "bad", "long", "boring", "shares", "profit", "oil", "barrels", "trade", "tariffs", "rates",
         "bank", "merger", "company's", "stake", "crude", "exports", "dollar"]
VOCAB = {w: rank + INDEX_FROM for rank, w in enumerate(WORDS, start=1) if rank + INDEX_FROM < NUM_WORDS}
FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
TEXT_SPEC = {"type": "text", "vocabulary": "vocab.json", "num_words": NUM_WORDS, "skip_top": 0, "start_char": 1,
             "oov_char": 2, "index_from": INDEX_FROM, "maxlen": MAXLEN, "padding": "pre", "truncating": "pre",
             "lowercase": True, "filters": FILTERS, "split": " "}
IMAGE_SIZE = 32
TEST_ITEMS = 200  # what export checks each variant on against Keras
CALIBRATION_SAMPLES = 64
IMAGE_SPEC = {"type": "image", "size": [IMAGE_SIZE, IMAGE_SIZE], "interpolation": "bilinear", "color_mode": "rgb",
              "normalization": "mobilenet"}
SENTIMENT = (["great", "fun", "good", "wonderful"], ["dull", "bad", "long", "boring"])
TOPICS = {"earn": ["profit", "shares"], "acq": ["merger", "stake"], "crude": ["oil", "barrels", "crude"],
          "trade": ["trade", "tariffs", "exports"], "money": ["rates", "bank", "dollar"]}
SAMPLE_TEXTS = ["A great, fun film!", "Dull and far too long: boring.", "It's a wonderful story", "bad bad bad",
                "Oil barrels: crude exports rose", "The bank cut rates; the dollar fell", "", "zzz unknown words only"]
IMAGE_LABELS = ["cats", "dogs", "horses"]
IMAGE_NAMES = ["cat 2Q== (1) x=y.jpg", "dog [copy].png", "horse=1 (b).jpg", "cat (a).png"]  # red, green, blue, red


def _tokens(words: list[str]) -> list[int]:
    return [1] + [VOCAB.get(w, 2) for w in words]


def _text_data(rng: np.random.Generator, labels_of: dict[int, list[str]], n: int):
    from keras.utils import pad_sequences

    filler = ["the", "a", "film", "and", "plot", "story"]
    x, y = [], []
    for _ in range(n):
        label = int(rng.integers(len(labels_of)))
        words = list(rng.choice(filler, rng.integers(2, 12))) + list(rng.choice(labels_of[label], rng.integers(1, 4)))
        rng.shuffle(words)
        x.append(_tokens(words))
        y.append(label)
    return pad_sequences(x, MAXLEN), np.array(y)


def _colour_images(rng: np.random.Generator, n: int, size: int = IMAGE_SIZE):
    y = rng.integers(0, 3, n)
    x = rng.integers(0, 90, (n, size, size, 3)).astype(np.float32)
    x[np.arange(n), :, :, y] += 150.0
    return x / 127.5 - 1.0, y


def _save_for_export(bundle: Path, model, task: str, kind: str, labels: list[str], preprocessing: dict,
                     description: str) -> None:
    """Write the model as `train` writes a bundle: keras/model.keras, keras/task.json, vocab.json or labels.json."""
    keras_dir = bundle / "keras"
    keras_dir.mkdir(parents=True)
    if kind == "text":
        (bundle / "vocab.json").write_text(json.dumps(VOCAB))
    (bundle / "labels.json").write_text(json.dumps(labels))
    model.save(keras_dir / "model.keras")
    recipe = {"task": task, "kind": kind, "model": description, "made_by": "tests/runtime/make_models.py"}
    task_doc = {"task": task, "kind": kind, "labels": labels, "preprocessing": preprocessing, "recipe": recipe, "seed": 0}
    (keras_dir / "task.json").write_text(json.dumps(task_doc, indent=2) + "\n")


def _export(bundle: Path, variants: list[str], x_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
            recommended: str | None = None) -> None:
    """`export_bundle` on the saved model, with the data made here; every variant must pass export's checks.

    The tests choose the default variant themselves (`recommended`, else the runtime's default order):
    export's own choice, the fastest file that passed, is tested in tests/export."""
    from edgeport.export.bundle import export_bundle
    from edgeport.export.job import ExportOptions
    from edgeport.runtime.manifest import read_manifest, write_manifest

    data = SimpleNamespace(x_train=x_train, x_test=x_test, y_test=y_test)
    options = ExportOptions(variants=variants, calibration_samples=CALIBRATION_SAMPLES, measure_latency=False)
    result = export_bundle(bundle, options, task_data=data)
    failures = {o.variant.key: o.error or o.artifact.parity.get("failures") for o in result.outcomes if not o.passed}
    if failures:
        raise RuntimeError(f"{bundle.name}: export failed for {failures}")
    reason = "chosen by tests/runtime/make_models.py" if recommended else None
    write_manifest(bundle, replace(read_manifest(bundle), recommended=recommended, recommended_reason=reason))


def _bare_onnx_batch1(model, path: Path) -> None:
    """The float32 ONNX export with its batch dimension fixed at 1, as some third-party files come."""
    import onnx

    from edgeport.export.onnx import export_onnx
    from edgeport.export.variants import variant

    export_onnx(model, path, variant("onnx-fp32"))
    proto = onnx.load(str(path))
    for value in [*proto.graph.input, *proto.graph.output]:
        value.type.tensor_type.shape.dim[0].dim_value = 1
    onnx.save(proto, str(path))


def build_text(out: Path) -> None:
    import keras

    from edgeport.export.tflite import export_tflite
    from edgeport.export.variants import variant

    rng = np.random.default_rng(0)
    sentiment = {1: SENTIMENT[0], 0: SENTIMENT[1]}

    # binary: the lecture's IMDB model
    keras.utils.set_random_seed(0)
    inputs = keras.Input((MAXLEN,), dtype="int32", name="tokens")
    x = keras.layers.Flatten()(keras.layers.Embedding(NUM_WORDS, 8)(inputs))
    binary = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))
    binary.compile("rmsprop", "binary_crossentropy")
    x_train, y_train = _text_data(rng, sentiment, 600)
    binary.fit(x_train, y_train, epochs=12, batch_size=32, verbose=0)
    bundle = out / "text_binary"
    _save_for_export(bundle, binary, "sentiment", "text", ["negative", "positive"], TEXT_SPEC,
                     "Embedding(50, 8) -> Flatten -> Dense(1, sigmoid)")
    _export(bundle, ["tflite-fp32", "tflite-int8", "onnx-fp32"], x_train, *_text_data(rng, sentiment, TEST_ITEMS))
    _save_expected(bundle, binary, rng.integers(0, NUM_WORDS, (9, MAXLEN)).astype(np.int32))

    # fixed batch 1: the same model, as some third-party files come
    bare = out / "bare"
    bare.mkdir(parents=True, exist_ok=True)
    one = keras.Input((MAXLEN,), batch_size=1, dtype="int32", name="tokens")
    export_tflite(keras.Model(one, binary(one)), bare / "text_batch1.tflite", variant("tflite-fp32"))
    _bare_onnx_batch1(binary, bare / "text_batch1.onnx")

    # topics: a Reuters-like softmax model with a hidden layer large enough for dynamic-range int8
    keras.utils.set_random_seed(1)
    inputs = keras.Input((MAXLEN,), dtype="int32", name="tokens")
    x = keras.layers.Flatten()(keras.layers.Embedding(NUM_WORDS, 8)(inputs))
    x = keras.layers.Dense(32, activation="relu")(x)
    topics = keras.Model(inputs, keras.layers.Dense(len(TOPICS), activation="softmax")(x))
    topics.compile("adam", "sparse_categorical_crossentropy")
    keywords = dict(enumerate(TOPICS.values()))
    x_train, y_train = _text_data(rng, keywords, 800)
    topics.fit(x_train, y_train, epochs=15, batch_size=32, verbose=0)
    bundle = out / "text_topics"
    _save_for_export(bundle, topics, "topics", "text", list(TOPICS), TEXT_SPEC,
                     "Embedding(50, 8) -> Flatten -> Dense(32, relu) -> Dense(5, softmax)")
    _export(bundle, ["tflite-fp32", "tflite-dynamic-int8", "onnx-fp32"], x_train,
            *_text_data(rng, keywords, TEST_ITEMS), recommended="tflite-fp32")
    _save_expected(bundle, topics, rng.integers(0, NUM_WORDS, (9, MAXLEN)).astype(np.int32))


def build_image(out: Path) -> None:
    import keras
    import PIL
    from PIL import Image

    from edgeport.export.calibrate import representative_batches
    from edgeport.export.tflite import export_tflite
    from edgeport.export.variants import variant

    keras.utils.set_random_seed(2)
    rng = np.random.default_rng(2)
    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3), name="image")
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    model.compile("adam", "sparse_categorical_crossentropy")
    x_train, y_train = _colour_images(rng, 300)
    model.fit(x_train, y_train, epochs=20, batch_size=32, verbose=0)
    bundle = out / "image"
    _save_for_export(bundle, model, "pets", "image", IMAGE_LABELS, IMAGE_SPEC, "Conv2D(4, 3) -> GAP -> Dense(3, softmax)")
    _export(bundle, ["tflite-fp32", "tflite-int8", "onnx-fp32"], x_train, *_colour_images(rng, TEST_ITEMS))
    # int8 inside, float input and output: the int8 row without its int8 I/O
    int8 = variant("tflite-int8")
    float_io = replace(int8, options=MappingProxyType({k: v for k, v in int8.options.items() if k != "io_type"}))
    (out / "bare").mkdir(exist_ok=True)
    export_tflite(model, out / "bare" / "image_int8_floatio.tflite", float_io,
                  representative_batches(x_train, CALIBRATION_SAMPLES))
    _save_expected(bundle, model, _colour_images(rng, 12)[0].astype(np.float32))
    _with_converter_int8(bundle, out / "image_int8io", model, representative_batches(x_train, CALIBRATION_SAMPLES))

    # photos of other sizes with awkward names, and Keras' own answer for them
    images = out / "images"
    images.mkdir()
    for i, name in enumerate(IMAGE_NAMES):
        pixels = rng.integers(0, 90, (40 + 7 * i, 50 - 3 * i, 3))
        pixels[..., i % 3] += 150
        Image.fromarray(pixels.astype(np.uint8)).save(images / name)
    paths = [images / name for name in IMAGE_NAMES]
    batch = np.stack([keras.applications.mobilenet.preprocess_input(keras.utils.img_to_array(
        keras.utils.load_img(p, target_size=(IMAGE_SIZE, IMAGE_SIZE), interpolation="bilinear"))) for p in paths])
    np.savez(images / "expected.npz", names=np.array(IMAGE_NAMES), x=batch, y=np.asarray(model(batch, training=False)),
             pillow=np.array(PIL.__version__))  # Pillow 13 resizes differently from earlier releases


def _with_converter_int8(bundle: Path, twin: Path, model, representative) -> None:
    """A copy of `bundle` whose tflite-int8 is the converter's file as it comes (int8 edges), listed in its
    manifest (size, sha256, tensors); that artifact's golden samples are left out."""
    from edgeport.export.tflite import export_tflite, tflite_tensor_specs
    from edgeport.export.variants import variant
    from edgeport.runtime.golden import golden_file
    from edgeport.runtime.manifest import read_manifest, sha256_file, write_manifest

    shutil.copytree(bundle, twin)
    path = twin / "model.int8.tflite"
    path.unlink()
    export_tflite(model, path, variant("tflite-int8"), representative)
    inputs, outputs = tflite_tensor_specs(path)
    manifest = read_manifest(twin)
    artifacts = [replace(a, sha256=sha256_file(path), size=path.stat().st_size, inputs=inputs, outputs=outputs)
                 if a.key == "tflite-int8" else a for a in manifest.artifacts]
    (twin / golden_file("tflite-int8")).unlink()
    files = [f for f in manifest.files if f.path != golden_file("tflite-int8")]
    write_manifest(twin, replace(manifest, artifacts=artifacts, files=files))


def build_own(out: Path) -> None:
    """A two-input, two-output model as a user brings it: exported by `export_model` with samples, no preprocessing."""
    import keras

    from edgeport.export.job import ExportOptions
    from edgeport.export.own import ModelDescription, export_model

    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    tokens = keras.Input((MAXLEN,), dtype="int32", name="tokens")
    features = keras.Input((4,), name="features")
    pooled = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(NUM_WORDS, 8)(tokens))
    hidden = keras.layers.Dense(16, activation="relu")(keras.layers.Concatenate()([pooled, features]))
    model = keras.Model([tokens, features], [keras.layers.Dense(3, activation="softmax", name="topic")(hidden),
                                             keras.layers.Dense(1, name="score")(hidden)])
    x_tokens = rng.integers(0, NUM_WORDS, (300, MAXLEN)).astype(np.int32)
    x_features = rng.normal(0.0, 1.0, (300, 4)).astype(np.float32)
    y = (x_features[:, 0] > 0).astype(np.int64) + (x_features[:, 1] > 1).astype(np.int64)
    model.compile("adam", ["sparse_categorical_crossentropy", "mse"])
    model.fit([x_tokens, x_features], [y, x_features[:, 2:3] * 2.0], epochs=10, batch_size=32, verbose=0)
    samples = {"x_tokens": x_tokens[:TEST_ITEMS], "x_features": x_features[:TEST_ITEMS], "y": y[:TEST_ITEMS]}
    bundle = out / "own_two_input"
    options = ExportOptions(calibration_samples=CALIBRATION_SAMPLES, measure_latency=False)  # all seven variants
    result = export_model(model, samples, bundle, ModelDescription(name="own_two_input"), options)  # an int8 one may miss
    # its tolerance
    failures = {o.variant.key: o.error or o.artifact.parity.get("failures") for o in result.outcomes
                if o.artifact is None or (not o.passed and o.variant.name == "fp32")}
    if failures:
        raise RuntimeError(f"{bundle.name}: export failed for {failures}")
    topic, score = model([x_tokens[-9:], x_features[-9:]], training=False)
    np.savez(bundle / "expected.npz", x_tokens=x_tokens[-9:], x_features=x_features[-9:], topic=np.asarray(topic),
             score=np.asarray(score))


def _save_expected(bundle: Path, model, x: np.ndarray) -> None:
    np.savez(bundle / "expected.npz", x=x, y=np.asarray(model(x, training=False)))  # a call: no predict function to trace


def build_all(out: str | os.PathLike) -> Path:
    """Build every model and bundle under `out` (created; must not hold a previous build)."""
    import keras
    import tensorflow as tf

    from tests.runtime.make_thirdparty import build_thirdparty

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with contextlib.redirect_stdout(io.StringIO()):  # the converters print every SavedModel they write
        build_text(out)
        build_image(out)
        build_own(out)
        build_thirdparty(out / "thirdparty")
    (out / "MODELS.json").write_text(json.dumps({"tensorflow": tf.__version__, "keras": keras.__version__}))
    return out


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository, for tests.runtime.*
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/runtime/make_models.py OUTDIR")
    print(f"runtime test models in {build_all(sys.argv[1])}")
