"""Task recipes: the hyper-parameters of each task, as data. The training loop is written once (`train.loop`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from edgeport.runtime.preprocess import KERAS_FILTERS

# Keras' own text conventions (keras.datasets.imdb / reuters).
START_CHAR, OOV_CHAR, INDEX_FROM = 1, 2, 3
# Keras' classic `text_to_word_sequence` filters: punctuation without the apostrophe,
# which the IMDB and Reuters word indexes keep inside words ("it's", "company's").
TEXT_FILTERS = KERAS_FILTERS  # the device tokeniser's, defined once in the runtime


@dataclass(frozen=True)
class TextRecipe:
    """A text classifier over Keras' word-rank datasets."""

    task: str
    dataset: str  # "imdb" or "reuters" (Keras' word-rank files), or "files" (the user's texts)
    num_words: int
    maxlen: int
    embedding_dim: int
    head: str  # "flatten" (the lecture's), "conv-maxpool", "average" or "maxpool"
    num_classes: int
    optimizer: str
    learning_rate: float | None
    epochs: int
    batch_size: int
    validation_split: float
    labels: tuple[str, ...] = ()
    head_units: int = 0  # conv filters per kernel size, or the hidden dense layer's width
    kernel_sizes: tuple[int, ...] = (5,)  # conv-maxpool: one branch per size, concatenated
    dropout: float = 0.0
    truncating: str = "pre"  # which end `pad_sequences` cuts from a long text
    tokenizer: str = "keras"  # a user's texts: `runtime.preprocess.TOKENIZERS` (the datasets come as Keras ids)
    # Training length (`train.schedule`): with `patience`, `epochs` is a budget and early stopping on the
    # validation loss may end it once `min_steps` optimizer steps are done; 0: exactly `epochs`.
    min_steps: int = 0
    patience: int = 0
    # Keras `class_weight` ("balanced") when the largest training class is more than twice the smallest.
    class_weighting: bool = False
    kind: str = "text"

    def with_overrides(self, **changes: Any) -> "TextRecipe":
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


@dataclass(frozen=True)
class ImageRecipe:
    """A MobileNet transfer-learning classifier over a folder of class sub-folders."""

    task: str
    alpha: float
    image_size: int
    base_weights: str  # "imagenet", "none" or a path to an .h5 file
    frozen_layers: int
    dense_units: tuple[int, ...]
    optimizer: str
    learning_rate: float
    epochs: int
    batch_size: int
    test_fraction: float
    validation_fraction: float
    interpolation: str = "bilinear"
    # BatchNormalization layers past the frozen ones keep ImageNet's statistics (inference mode).
    # Re-estimating them on batches of 16 from 158 photos wrecks the pretrained features: see README.
    freeze_batchnorm: bool = True
    # After training, kernels go on their int8 grid and the dense head trains this many epochs more on
    # top of that body (`train.int8_grid`): the int8 files then answer like the Keras model. 0: off.
    int8_refit_epochs: int = 2
    min_steps: int = 0  # as TextRecipe's (`train.schedule`)
    patience: int = 0
    class_weighting: bool = False
    kind: str = "image"

    def with_overrides(self, **changes: Any) -> "ImageRecipe":
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


IMDB = TextRecipe(
    task="imdb",
    dataset="imdb",
    num_words=10000,
    maxlen=20,
    embedding_dim=8,
    head="flatten",
    num_classes=2,
    optimizer="rmsprop",
    learning_rate=None,
    epochs=10,
    batch_size=32,
    validation_split=0.2,
    labels=("negative", "positive"),
)

# Chosen by measurement (README, "The Reuters model"): convolutions over 3-, 4- and 5-word windows,
# max-pooled, read the first 300 words of a newswire (its lead names the topic).
REUTERS = TextRecipe(
    task="reuters",
    dataset="reuters",
    num_words=10000,
    maxlen=300,
    embedding_dim=256,
    head="conv-maxpool",
    head_units=64,
    kernel_sizes=(3, 4, 5),
    dropout=0.5,
    truncating="post",
    num_classes=46,
    optimizer="adam",
    learning_rate=1e-3,
    epochs=8,
    batch_size=64,
    validation_split=0.2,
)

PETS = ImageRecipe(
    task="pets",
    alpha=0.25,
    image_size=224,
    base_weights="imagenet",
    frozen_layers=20,
    dense_units=(1024, 1024, 512),
    optimizer="adam",
    learning_rate=1e-4,
    epochs=5,
    batch_size=16,
    test_fraction=0.2,
    validation_fraction=0.0,
)

# A user's own texts: the head and length chosen by measurement on the Reuters newswires as raw text
# (README, "Choosing the default for your texts"): Reuters' recipe with a smaller embedding.
# `num_classes` comes from the data. At least 300 optimizer steps, then early stopping on the validation
# loss within 30 epochs (docs/training.md, "How long training runs"). Tokenised as MediaPipe's RegexTokenizer
# does (docs/phone.md), so the .tflite answers the same in an app.
TEXT = replace(REUTERS, task="text", dataset="files", embedding_dim=64, num_classes=0, epochs=30, min_steps=300, patience=3,
               tokenizer="mediapipe")

# A user's own folder of class sub-folders: the pets recipe without the demo's name, and at least the 50
# optimizer steps that pets' 5 epochs are (a smaller folder trains more epochs; docs/training.md, "How long").
IMAGE = replace(PETS, task="image", min_steps=50)

RECIPES: dict[str, TextRecipe | ImageRecipe] = {r.task: r for r in (TEXT, IMAGE, IMDB, REUTERS, PETS)}
# Tasks that read the user's files (`--data PATH`), not the lecture's datasets (`--data-dir`).
USER_DATA_TASKS = ("text", "image")


def recipe_from_dict(doc: dict[str, Any]) -> TextRecipe | ImageRecipe:
    """Rebuild a recipe from what `train` recorded in `keras/task.json` (lists become tuples again)."""
    cls = TextRecipe if doc.get("kind") == "text" else ImageRecipe
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in doc.items()}
    return cls(**fields)
