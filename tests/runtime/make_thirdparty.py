"""Model files as they come from elsewhere, for `edgeport-run import` and `Model.run` (needs TensorFlow).

`make_models.build_all` calls `build_thirdparty(OUTDIR / "thirdparty")`, which writes, with random
weights (what is tested is that the runtime feeds the engine exactly, not what the model learnt):

  text_float_ids.tflite  Embedding(TEXT_WORDS, 4) → GlobalAveragePooling1D → Dense(3, softmax), word ids
                         as float32 of shape (1, TEXT_LENGTH), as TFLite Model Maker's text classifiers take them
  image_uint8.tflite     uint8 pixels (1, 24, 24, 3) → Rescaling(1/255) → Conv → GAP → Dense(4, softmax)
  image_uint8_int8.tflite  a model of pixels in [-1, 1] fully int8-quantised with uint8 input and output: it
                         takes raw pixels (input scale 1/127.5, zero point 128), as published quantised MobileNets
  image_float.onnx       float pixels scaled to [0, 1], (batch, 24, 24, 3) with a free batch axis
  two_inputs.{tflite,onnx}  `audio` (AUDIO_LENGTH, 1) with no batch axis and `rate` (1,): inputs of
                         different leading sizes → Dense(3, softmax) of shape (1, 3)
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np

TEXT_WORDS, TEXT_LENGTH, TEXT_CLASSES = 20, 8, 3
IMAGE_SIZE, IMAGE_CLASSES = 24, 4
AUDIO_LENGTH = 160


def _tflite(model, path: Path, representative=None, uint8_io: bool = False) -> None:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if representative is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if uint8_io:
        converter.inference_input_type = converter.inference_output_type = tf.uint8
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        path.write_bytes(converter.convert())


def build_text(out: Path) -> None:
    import keras

    keras.utils.set_random_seed(10)
    ids = keras.Input((TEXT_LENGTH,), batch_size=1, dtype="float32", name="input_word_ids")
    x = keras.layers.Embedding(TEXT_WORDS, 4, embeddings_initializer=keras.initializers.RandomUniform(-1, 1))(ids)
    x = keras.layers.GlobalAveragePooling1D()(x)
    model = keras.Model(ids, keras.layers.Dense(TEXT_CLASSES, activation="softmax")(x))
    _tflite(model, out / "text_float_ids.tflite")


def build_image(out: Path) -> None:
    import keras

    keras.utils.set_random_seed(11)
    pixels = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3), batch_size=1, dtype="uint8", name="image")
    x = keras.layers.Rescaling(1 / 255)(keras.ops.cast(pixels, "float32"))
    x = keras.layers.Conv2D(6, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(pixels, keras.layers.Dense(IMAGE_CLASSES, activation="softmax")(x))
    _tflite(model, out / "image_uint8.tflite")

    # a float model of pixels in [-1, 1], quantised to int8 with uint8 input and output: its uint8 input
    # (scale 1/127.5, zero point 128) takes the raw pixels, as published quantised MobileNets do
    keras.utils.set_random_seed(12)
    floats = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3), batch_size=1, name="image")
    x = keras.layers.Conv2D(6, 3, activation="relu")(floats)
    x = keras.layers.GlobalAveragePooling2D()(x)
    twin = keras.Model(floats, keras.layers.Dense(IMAGE_CLASSES, activation="softmax")(x))
    rng = np.random.default_rng(12)

    def representative():
        for _ in range(32):
            yield [rng.integers(0, 256, (1, IMAGE_SIZE, IMAGE_SIZE, 3)).astype(np.float32) / 127.5 - 1]

    _tflite(twin, out / "image_uint8_int8.tflite", representative, uint8_io=True)


def build_float_image_onnx(out: Path) -> None:
    """A float ONNX image model with a free batch axis, taking pixels scaled to [0, 1]."""
    import keras
    import tensorflow as tf
    import tf2onnx

    keras.utils.set_random_seed(14)
    pixels = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3), name="pixels")
    x = keras.layers.Conv2D(6, 3, activation="relu")(pixels)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(pixels, keras.layers.Dense(IMAGE_CLASSES, activation="softmax")(x))
    signature = [tf.TensorSpec((None, IMAGE_SIZE, IMAGE_SIZE, 3), tf.float32, name="pixels")]
    function = tf.function(lambda x: model(x, training=False))
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        proto, _ = tf2onnx.convert.from_function(function, input_signature=signature, opset=13)
    (out / "image_float.onnx").write_bytes(proto.SerializeToString())


def two_inputs_model():
    """`audio` (AUDIO_LENGTH, 1) and `rate` (1,): neither has a batch axis; their leading sizes differ."""
    import keras

    keras.utils.set_random_seed(13)
    audio = keras.Input((1,), batch_size=AUDIO_LENGTH, name="audio")
    rate = keras.Input((), batch_size=1, name="rate")
    features = keras.ops.mean(keras.layers.Dense(8, activation="tanh")(audio), axis=0, keepdims=True)  # (1, 8)
    scaled = features * keras.ops.expand_dims(rate, -1) / 16000.0
    return keras.Model([audio, rate], keras.layers.Dense(3, activation="softmax")(scaled))


def build_two_inputs(out: Path) -> None:
    import tensorflow as tf
    import tf2onnx

    model = two_inputs_model()
    _tflite(model, out / "two_inputs.tflite")
    signature = [tf.TensorSpec((AUDIO_LENGTH, 1), tf.float32, name="audio"), tf.TensorSpec((1,), tf.float32, name="rate")]
    function = tf.function(lambda audio, rate: model([audio, rate], training=False))
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        proto, _ = tf2onnx.convert.from_function(function, input_signature=signature, opset=13)
    (out / "two_inputs.onnx").write_bytes(proto.SerializeToString())


def build_thirdparty(out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    build_text(out)
    build_image(out)
    build_float_image_onnx(out)
    build_two_inputs(out)
    return out
