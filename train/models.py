"""Model builders, one per kind of recipe. They build and compile; training lives in `train.loop`."""

from __future__ import annotations

import os
from pathlib import Path

import keras

from edgeport.train.data import DATA_DIR_ENV, DataError, DataNotFoundError, data_dirs, download_or_explain, keras_cache_dir
from edgeport.train.recipes import ImageRecipe, TextRecipe

TOKENS_INPUT = "tokens"
IMAGE_INPUT = "image"
MOBILENET_WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet/"  # as Keras


def _optimizer(name: str, learning_rate: float | None) -> keras.optimizers.Optimizer:
    kwargs = {} if learning_rate is None else {"learning_rate": learning_rate}
    return keras.optimizers.get({"class_name": name, "config": kwargs})


def build_text_model(recipe: TextRecipe, num_words: int | None = None) -> keras.Model:
    """Embedding classifier; `head="flatten"` is the lecture's IMDB model, `conv-maxpool` the Reuters one.

    Every head exports to TFLite builtins and to ONNX (no recurrent layers)."""
    num_words = num_words or recipe.num_words
    inputs = keras.Input((recipe.maxlen,), dtype="int32", name=TOKENS_INPUT)
    x = keras.layers.Embedding(num_words, recipe.embedding_dim, name="embedding")(inputs)
    if recipe.head == "flatten":
        x = keras.layers.Flatten(name="flatten")(x)
    elif recipe.head == "conv-maxpool":
        branches = [
            keras.layers.GlobalMaxPooling1D(name=f"max_pool_{k}")(
                keras.layers.Conv1D(recipe.head_units, k, activation="relu", name=f"conv_{k}")(x)
            )
            for k in recipe.kernel_sizes
        ]
        x = branches[0] if len(branches) == 1 else keras.layers.Concatenate(name="windows")(branches)
    elif recipe.head in ("average", "maxpool"):
        pool = keras.layers.GlobalAveragePooling1D if recipe.head == "average" else keras.layers.GlobalMaxPooling1D
        x = pool(name=recipe.head)(x)
        x = keras.layers.Dense(recipe.head_units, activation="relu", name="hidden")(x)
    else:
        raise ValueError(f"unknown text head {recipe.head!r}; use flatten, conv-maxpool, average or maxpool")
    if recipe.dropout:
        x = keras.layers.Dropout(recipe.dropout, name="dropout")(x)
    if recipe.num_classes == 2:
        outputs = keras.layers.Dense(1, activation="sigmoid", name="probability")(x)
        loss = "binary_crossentropy"
    else:
        outputs = keras.layers.Dense(recipe.num_classes, activation="softmax", name="probabilities")(x)
        loss = "sparse_categorical_crossentropy"
    model = keras.Model(inputs, outputs, name=recipe.task)
    model.compile(optimizer=_optimizer(recipe.optimizer, recipe.learning_rate), loss=loss, metrics=["accuracy"])
    return model


def mobilenet_weights_name(alpha: float, size: int) -> str:
    """The file name Keras downloads for `MobileNet(include_top=False, weights="imagenet")`; `DataError`
    (a ValueError) for a width that has no ImageNet weights."""
    alpha_text = {1.0: "1_0", 0.75: "7_5", 0.5: "5_0", 0.25: "2_5"}.get(alpha)
    if alpha_text is None:
        raise DataError(f"ImageNet weights exist for alpha 0.25, 0.5, 0.75 and 1.0, not {alpha}")
    return f"mobilenet_{alpha_text}_{size}_tf_no_top.h5"


def resolve_base_weights(base_weights: str, alpha: float, size: int, data_dir: str | os.PathLike | None) -> str | None:
    """`imagenet` → a local file if there is one (data dir `weights/`, then the Keras cache), else
    "imagenet" (Keras downloads it); `none` → None; anything else is a path to an .h5 file."""
    if base_weights == "none":
        return None
    if base_weights != "imagenet":
        if not Path(base_weights).is_file():
            raise DataNotFoundError(f"base weights file {base_weights} does not exist; pass imagenet, none or an .h5 path")
        return base_weights
    name = mobilenet_weights_name(alpha, size)
    places = [d / "weights" / name for d in data_dirs(data_dir)] + [keras_cache_dir("models") / name]
    found = next((p for p in places if p.is_file()), None)
    return str(found) if found else "imagenet"


def download_imagenet_weights(alpha: float, size: int) -> str:
    """Download MobileNet's ImageNet file into the Keras cache as Keras itself would; offline, a
    `DataNotFoundError` that says where to put the file. Only the download is covered: an error while
    building the model afterwards keeps its own message."""
    name = mobilenet_weights_name(alpha, size)
    cache = keras_cache_dir("models")
    message = (
        f"ImageNet weights {name} not found: put the file into DATA_DIR/weights/ (with --data-dir DATA_DIR "
        f"or ${DATA_DIR_ENV}) or into {cache}, or train with --base-weights none"
    )

    def download() -> str:
        return keras.utils.get_file(name, MOBILENET_WEIGHTS_URL + name, cache_dir=str(cache.parent), cache_subdir=cache.name)

    return str(download_or_explain(download, message))


def build_image_model(recipe: ImageRecipe, num_classes: int, weights: str | None) -> keras.Model:
    """MobileNet without its top, GAP, Dense 1024 → 1024 → 512 (relu), softmax.

    The first `frozen_layers` layers are frozen; the rest train, except that with `freeze_batchnorm`
    the BatchNormalization layers run in inference mode (Keras freezes their statistics with them).
    """
    shape = (recipe.image_size, recipe.image_size, 3)
    base = keras.applications.MobileNet(include_top=False, weights=weights, alpha=recipe.alpha, input_shape=shape)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(base.output)
    for i, units in enumerate(recipe.dense_units):
        x = keras.layers.Dense(units, activation="relu", name=f"dense_{i}")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    model = keras.Model(base.input, outputs, name=recipe.task)
    for layer in model.layers[: recipe.frozen_layers]:
        layer.trainable = False
    for layer in model.layers[recipe.frozen_layers :]:
        layer.trainable = not (recipe.freeze_batchnorm and isinstance(layer, keras.layers.BatchNormalization))
    compile_image_model(model, recipe)
    return model


def compile_image_model(model: keras.Model, recipe: ImageRecipe) -> None:
    """Compile (again, after trainable flags changed) with the recipe's optimizer and a fresh state."""
    model.compile(optimizer=_optimizer(recipe.optimizer, recipe.learning_rate), loss="categorical_crossentropy",
                  metrics=["accuracy"])
