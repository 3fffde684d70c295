"""Small trained models and bundles for the runtime tests. Needs TensorFlow (the main environment).

    python tests/runtime/make_models.py OUTDIR

`make test` runs this once, then points both test environments at OUTDIR through
$EDGEPORT_RUNTIME_MODELS; without it, the tests' fixtures call `build_all` themselves.

OUTDIR/
  text_binary/   Embedding → Flatten → Dense(1, sigmoid); tflite-fp32, tflite-int8, onnx-fp32
  text_topics/   Embedding → Flatten → Dense(32) → Dense(5, softmax); tflite-fp32, tflite-dynamic-int8, onnx-fp32
  image/         Conv → GAP → Dense(3, softmax) on 32×32; tflite-fp32, tflite-int8 (int8 I/O), onnx-fp32
  bare/          text_batch1.{tflite,onnx} (batch fixed at 1), image_int8_floatio.tflite (int8 inside, float I/O)
  images/        photos with awkward names, and what Keras predicts for them
  */expected.npz Keras' own outputs on fixed inputs
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import sys
from pathlib import Path

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


def _tflite(model, variant: str, representative=None, int8_io: bool = True) -> bytes:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if variant != "fp32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if variant == "int8":
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if int8_io:
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
    return converter.convert()


def _onnx(model, shape: tuple, dtype, name: str, path: Path) -> None:
    import tensorflow as tf
    import tf2onnx

    function = tf.function(lambda x: model(x))
    tf2onnx.convert.from_function(function, input_signature=[tf.TensorSpec(shape, dtype, name=name)],
                                  opset=17, output_path=str(path))


def _write_bundle(out: Path, task: str, kind: str, labels: list[str], spec: dict, files: dict[str, bytes],
                  recommended: str | None = None) -> None:
    from edgeport import runtime
    from edgeport.runtime.manifest import Artifact, FileEntry, Manifest, TensorSpec, atomic_write_bytes, write_manifest

    artifacts = []
    for key, data in files.items():
        fmt, variant = key.split("-", 1)
        name = f"model.{variant}.{fmt}"
        atomic_write_bytes(out / name, data)
        info = runtime.load(out / name).info()
        specs = {role: [TensorSpec(t["name"], t["shape"], t["dtype"], t["scale"], t["zero_point"]) for t in info[role]]
                 for role in ("inputs", "outputs")}
        artifacts.append(Artifact(fmt, variant, name, hashlib.sha256(data).hexdigest(), len(data), specs["inputs"],
                                  specs["outputs"], converter={"made_by": "tests/runtime/make_models.py"},
                                  opset=17 if fmt == "onnx" else None, status="passed"))
    listed = [FileEntry(name, (out / name).stat().st_size, hashlib.sha256((out / name).read_bytes()).hexdigest())
              for name in ("vocab.json", "labels.json") if (out / name).is_file()]
    write_manifest(out, Manifest(task=task, kind=kind, labels=labels, preprocessing=spec, artifacts=artifacts,
                                 recommended=recommended, files=listed))


def build_text(out: Path) -> None:
    import keras

    rng = np.random.default_rng(0)
    representative = lambda: ([rng.integers(0, NUM_WORDS, (1, MAXLEN)).astype(np.int32)] for _ in range(50))  # noqa: E731

    # binary: the lecture's IMDB model
    keras.utils.set_random_seed(0)
    inputs = keras.Input((MAXLEN,), dtype="int32", name="tokens")
    x = keras.layers.Flatten()(keras.layers.Embedding(NUM_WORDS, 8)(inputs))
    binary = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))
    binary.compile("rmsprop", "binary_crossentropy")
    x_train, y_train = _text_data(rng, {1: SENTIMENT[0], 0: SENTIMENT[1]}, 600)
    binary.fit(x_train, y_train, epochs=12, batch_size=32, verbose=0)
    bundle = out / "text_binary"
    bundle.mkdir(parents=True)
    (bundle / "vocab.json").write_text(json.dumps(VOCAB))
    _onnx(binary, (None, MAXLEN), "int32", "tokens", bundle / "onnx.tmp")
    _write_bundle(bundle, "sentiment", "text", ["negative", "positive"], TEXT_SPEC, {
        "tflite-fp32": _tflite(binary, "fp32"), "tflite-int8": _tflite(binary, "int8", representative),
        "onnx-fp32": (bundle / "onnx.tmp").read_bytes()})
    (bundle / "onnx.tmp").unlink()
    _save_expected(bundle, binary, rng.integers(0, NUM_WORDS, (9, MAXLEN)).astype(np.int32))

    # fixed batch 1: the same model, as some third-party files come
    bare = out / "bare"
    bare.mkdir(parents=True, exist_ok=True)
    one = keras.Input((MAXLEN,), batch_size=1, dtype="int32", name="tokens")
    fixed = keras.Model(one, binary(one))
    (bare / "text_batch1.tflite").write_bytes(_tflite(fixed, "fp32"))
    _onnx(binary, (1, MAXLEN), "int32", "tokens", bare / "text_batch1.onnx")

    # topics: a Reuters-like softmax model with a hidden layer large enough for dynamic-range int8
    keras.utils.set_random_seed(1)
    inputs = keras.Input((MAXLEN,), dtype="int32", name="tokens")
    x = keras.layers.Flatten()(keras.layers.Embedding(NUM_WORDS, 8)(inputs))
    x = keras.layers.Dense(32, activation="relu")(x)
    topics = keras.Model(inputs, keras.layers.Dense(len(TOPICS), activation="softmax")(x))
    topics.compile("adam", "sparse_categorical_crossentropy")
    x_train, y_train = _text_data(rng, dict(enumerate(TOPICS.values())), 800)
    topics.fit(x_train, y_train, epochs=15, batch_size=32, verbose=0)
    bundle = out / "text_topics"
    bundle.mkdir(parents=True)
    (bundle / "vocab.json").write_text(json.dumps(VOCAB))
    _onnx(topics, (None, MAXLEN), "int32", "tokens", bundle / "onnx.tmp")
    _write_bundle(bundle, "topics", "text", list(TOPICS), TEXT_SPEC, {
        "tflite-fp32": _tflite(topics, "fp32"), "tflite-dynamic-int8": _tflite(topics, "dynamic-int8"),
        "onnx-fp32": (bundle / "onnx.tmp").read_bytes()}, recommended="tflite-fp32")
    (bundle / "onnx.tmp").unlink()
    _save_expected(bundle, topics, rng.integers(0, NUM_WORDS, (9, MAXLEN)).astype(np.int32))


def build_image(out: Path) -> None:
    import keras
    import PIL
    from PIL import Image

    keras.utils.set_random_seed(2)
    rng = np.random.default_rng(2)
    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3), name="image")
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    model.compile("adam", "sparse_categorical_crossentropy")
    x_train, y_train = _colour_images(rng, 300)
    model.fit(x_train, y_train, epochs=20, batch_size=32, verbose=0)
    calibration = x_train[:64]
    representative = lambda: ([calibration[i : i + 1]] for i in range(len(calibration)))  # noqa: E731
    bundle = out / "image"
    bundle.mkdir(parents=True)
    (bundle / "labels.json").write_text(json.dumps(IMAGE_LABELS))
    _onnx(model, (None, IMAGE_SIZE, IMAGE_SIZE, 3), "float32", "image", bundle / "onnx.tmp")
    _write_bundle(bundle, "pets", "image", IMAGE_LABELS, IMAGE_SPEC, {
        "tflite-fp32": _tflite(model, "fp32"), "tflite-int8": _tflite(model, "int8", representative),
        "onnx-fp32": (bundle / "onnx.tmp").read_bytes()})
    (bundle / "onnx.tmp").unlink()
    (out / "bare").mkdir(exist_ok=True)
    (out / "bare" / "image_int8_floatio.tflite").write_bytes(_tflite(model, "int8", representative, int8_io=False))
    _save_expected(bundle, model, _colour_images(rng, 12)[0].astype(np.float32))

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
    np.savez(images / "expected.npz", names=np.array(IMAGE_NAMES), x=batch, y=model.predict(batch, verbose=0),
             pillow=np.array(PIL.__version__))  # Pillow 13 resizes differently from earlier releases


def _save_expected(bundle: Path, model, x: np.ndarray) -> None:
    np.savez(bundle / "expected.npz", x=x, y=model.predict(x, verbose=0))


def build_all(out: str | os.PathLike) -> Path:
    """Build every model and bundle under `out` (created; must not hold a previous build)."""
    import keras
    import tensorflow as tf

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with contextlib.redirect_stdout(io.StringIO()):  # the converters print every SavedModel they write
        build_text(out)
        build_image(out)
    (out / "MODELS.json").write_text(json.dumps({"tensorflow": tf.__version__, "keras": keras.__version__}))
    return out


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/runtime/make_models.py OUTDIR")
    print(f"runtime test models in {build_all(sys.argv[1])}")
