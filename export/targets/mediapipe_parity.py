"""Parity through the phone library: each `.tflite` variant of an image (text) bundle run by MediaPipe Tasks'
ImageClassifier (TextClassifier) (its Python wheel runs the same C++ task graph as Android and iOS) on the bundle's check
inputs, against Keras: top-1 agreement and max |Δp|, beside the device runtime's figures.

The check inputs are the model's tensors; for images the caller turns them back into the uint8 pixels they
came from (the runtime's inverse of the normalisation, `export.file_inputs`), at the model's own size, so MediaPipe
resizes nothing and the figures measure its normalisation and engine, not a resize (docs/phone.md gives
the settings for camera frames of other sizes)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from edgeport.export.checks import CheckData
from edgeport.export.converters import quiet
from edgeport.runtime.preprocess import TOKENIZERS


@dataclass(frozen=True)
class PhoneParity:
    key: str
    samples: int
    class_agreement: float | None
    max_abs_diff: float | None
    error: str | None = None
    task: str = "ImageClassifier"
    runtime_agreement: float | None = None  # against edgeport's runtime on the same file and inputs
    runtime_max_abs_diff: float | None = None

    def to_dict(self) -> dict[str, Any]:
        facts = {"engine": f"mediapipe {self.task}", "samples": self.samples, "class_agreement": self.class_agreement,
                 "max_abs_diff": self.max_abs_diff, "runtime_class_agreement": self.runtime_agreement,
                 "runtime_max_abs_diff": self.runtime_max_abs_diff}
        return facts | ({"error": self.error} if self.error else {})

    def describe(self) -> str:
        if self.error:
            return f"{self.key} in MediaPipe's {self.task}: not run ({self.error})"
        return (f"{self.key} in MediaPipe's {self.task}: top-1 equals Keras' on {self.class_agreement:.2%} of "
                f"{self.samples} inputs, max |Δp| {self.max_abs_diff:.3g}; equals edgeport's runtime on "
                f"{self.runtime_agreement:.2%}, max |Δp| {self.runtime_max_abs_diff:.3g}")


def measured(key: str, task: str, scores: np.ndarray, keras: np.ndarray, runtime: np.ndarray) -> PhoneParity:
    """MediaPipe's `scores` against Keras' and the runtime's answers on the same inputs."""
    def diff(reference: np.ndarray) -> tuple[float, float]:
        return float(np.mean(top1(scores) == top1(reference))), float(np.max(np.abs(scores - reference)))

    (agreement, delta), (runtime_agreement, runtime_delta) = diff(np.asarray(keras)), diff(np.asarray(runtime))
    return PhoneParity(key, len(scores), agreement, delta, None, task, runtime_agreement, runtime_delta)


def classify(model_file: Path, pixels: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    """MediaPipe's scores for each image, in `labels` order (n, classes)."""
    import mediapipe as mp
    from mediapipe.tasks.python.core.base_options import BaseOptions
    from mediapipe.tasks.python.vision import ImageClassifier, ImageClassifierOptions

    options = ImageClassifierOptions(base_options=BaseOptions(model_asset_path=str(model_file)))
    index = {name: i for i, name in enumerate(labels)}
    scores = np.zeros((len(pixels), len(labels)), np.float32)
    with ImageClassifier.create_from_options(options) as classifier:
        for row, image in enumerate(pixels):
            result = classifier.classify(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(image)))
            for category in result.classifications[0].categories:
                scores[row, index[category.category_name]] = category.score
    return scores


def image_parity(model_file: Path, key: str, pixels: np.ndarray | None,
                 keras_predict: Callable[[np.ndarray], np.ndarray], runtime_predict: Callable[[np.ndarray], np.ndarray],
                 labels: Sequence[str]) -> PhoneParity:
    """Run `model_file` (variant `key`) in ImageClassifier on `pixels` (the check inputs' uint8 pixels; None where the normalisation
    has no inverse) and compare with Keras' and the runtime's answers on the same pixels (`keras_predict`,
    `runtime_predict`: uint8 pixels → probabilities)."""
    if pixels is None or len(labels) < 2:
        return PhoneParity(key, 0, None, None, "no pixels or labels MediaPipe can take for this model")
    reference = np.asarray(keras_predict(pixels))
    if reference.shape[-1] != len(labels):
        return PhoneParity(key, 0, None, None, f"{reference.shape[-1]} outputs for {len(labels)} labels")
    try:
        with quiet():  # MediaPipe's and LiteRT's start-up lines on stderr
            scores = classify(model_file, pixels, labels)
    except ImportError:
        return PhoneParity(key, 0, None, None, "mediapipe is not installed: pip install 'edgeport[mobile]'")
    except (RuntimeError, ValueError) as exc:  # MediaPipe refusing the file is the finding
        return PhoneParity(key, 0, None, None, str(exc).strip().splitlines()[0][:300])
    return measured(key, "ImageClassifier", scores, reference, runtime_predict(pixels))


def ids_to_texts(x: np.ndarray, spec: Mapping[str, Any], vocabulary: Mapping[str, int]) -> list[str]:
    """The check inputs (token ids) as texts: each id's word, joined by spaces, padding and the start mark
    left out, an unknown-word id as a word the vocabulary lacks. Tokenised by the manifest's rule they give
    the same ids back; tokenised by another they show what that rule changes."""
    words = {i: w for w, i in vocabulary.items()}
    unknown = next(f"edgeportunknown{n}" for n in range(len(vocabulary) + 1) if f"edgeportunknown{n}" not in vocabulary)
    skip = {spec.get("pad_char", 0), spec.get("start_char", 1)}
    return [" ".join(words.get(int(i), unknown) for i in row if int(i) not in skip) for row in np.asarray(x)]


def classify_texts(model_file: Path, texts: Sequence[str], classes: int) -> np.ndarray:
    """MediaPipe TextClassifier's scores for each text, by output position (n, classes)."""
    from mediapipe.tasks.python.core.base_options import BaseOptions
    from mediapipe.tasks.python.text import TextClassifier, TextClassifierOptions

    options = TextClassifierOptions(base_options=BaseOptions(model_asset_path=str(model_file)))
    scores = np.zeros((len(texts), classes), np.float32)
    with TextClassifier.create_from_options(options) as classifier:
        for row, text in enumerate(texts):
            for category in classifier.classify(text).classifications[0].categories:
                scores[row, category.index] = category.score
    return scores


def top1(p: np.ndarray) -> np.ndarray:
    """Each row's class: the largest score, or for one sigmoid output whether it is above 0.5."""
    p = np.asarray(p)
    return (p[:, 0] > 0.5).astype(np.int64) if p.shape[-1] == 1 else np.argmax(p, -1)


def tokenised_as_mediapipe(spec: Mapping[str, Any]) -> bool:
    """Whether the bundle's texts are tokenised by the rule MediaPipe's RegexTokenizer reproduces."""
    return all(spec.get(field) == value for field, value in TOKENIZERS["mediapipe"].items())


def text_parity(model_file: Path, key: str, check: CheckData, runtime_predict: Callable[[np.ndarray], np.ndarray],
                spec: Mapping[str, Any], vocabulary: Mapping[str, int]) -> PhoneParity:
    """Run `model_file` (variant `key`) in TextClassifier on the agreement inputs as texts (`ids_to_texts`) and
    compare with Keras' answers on them (`check.agreement_reference`) and the runtime's (`runtime_predict`) on
    the ids themselves. A bundle tokenised another way is not run: its answers in TextClassifier would differ
    by construction (docs/phone.md)."""
    x, reference = check.x_agreement, check.agreement_reference
    if not tokenised_as_mediapipe(spec):
        return PhoneParity(key, 0, None, None, "not phone-ready: its texts are tokenised Keras-style, not as MediaPipe's "
                           "RegexTokenizer does (edgeport-train text's default)", "TextClassifier")
    try:
        with quiet():
            scores = classify_texts(model_file, ids_to_texts(x, spec, vocabulary), np.shape(reference)[-1])
    except ImportError:
        return PhoneParity(key, 0, None, None, "mediapipe is not installed: pip install 'edgeport[mobile]'", "TextClassifier")
    except (RuntimeError, ValueError, IndexError) as exc:
        return PhoneParity(key, 0, None, None, str(exc).strip().splitlines()[0][:300], "TextClassifier")
    return measured(key, "TextClassifier", scores, reference, runtime_predict(x))
