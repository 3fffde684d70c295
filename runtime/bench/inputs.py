"""The inputs `runtime.bench` times every variant (and Keras) on: the same arrays for all of them.

Text bundles: reviews made from the bundle's own vocabulary (or read from a file, one a line), with
IMDB's length (100 to 360 words, mean 230), capitals, punctuation and unknown words, so that
tokenising costs what it costs on real reviews; their token ids come from the runtime's preprocessing.
Image bundles: random pixels, normalised as the manifest says (an engine's speed does not depend on
what the picture shows); and, given a folder to write them in, JPEG files for the image-file path: the
photos of a folder (`--images`), or smooth synthetic pictures of `PHOTO_SIZE`, as a phone shares them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from edgeport.runtime.errors import UsageError
from edgeport.runtime.manifest import Artifact, Manifest
from edgeport.runtime.preprocess import IMAGE_SUFFIXES, make_preprocessor

ROTATION = 4  # distinct batches per batch size, used in turn
REVIEW_WORDS = (100, 360)
PHOTO_SIZE = (640, 480)  # width, height of the synthetic photos
SEED = 0


@dataclass
class BenchInputs:
    """Per batch size: `ROTATION` tensors (as a user passes them to `predict_tensor`) and, for text,
    the raw strings they were made from."""

    tensors: dict[int, list[np.ndarray]] = field(default_factory=dict)
    texts: dict[int, list[list[str]]] = field(default_factory=dict)
    files: dict[int, list[list[str]]] = field(default_factory=dict)  # image files, for images
    description: str = ""

    def first(self, batch: int) -> np.ndarray:
        return self.tensors[batch][0]


def synthetic_reviews(vocabulary: dict[str, int], count: int, seed: int = SEED,
                      words: tuple[int, int] = REVIEW_WORDS) -> list[str]:
    """`count` review-like texts: frequent words more often (Zipf), some unknown words, punctuation."""
    rng = np.random.default_rng(seed)
    ranked = sorted(vocabulary, key=vocabulary.__getitem__)
    if not ranked:
        ranked = ["word"]
    weights = 1.0 / (np.arange(len(ranked)) + 10.0)
    weights /= weights.sum()
    unknown = ["qwxz", "zorblax", "flimflam", "unheardof"]
    texts = []
    for _ in range(count):
        n = int(rng.integers(words[0], words[1] + 1))
        picked = [ranked[i] for i in rng.choice(len(ranked), n, p=weights)]
        for position in rng.choice(n, max(1, n // 25), replace=False):
            picked[position] = unknown[int(position) % len(unknown)]
        sentence, out = 0, []
        for word in picked:
            out.append(word.capitalize() if sentence == 0 else word)
            sentence += 1
            if sentence > 4 and rng.random() < 0.12:
                out[-1] += "." if rng.random() < 0.7 else ","
                sentence = 0 if out[-1].endswith(".") else sentence
        texts.append(" ".join(out))
    return texts


def read_texts(path: str | os.PathLike) -> list[str]:
    """Non-empty lines of a UTF-8 text file."""
    return [line for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def synthetic_photos(folder: Path, count: int, seed: int = SEED, size: tuple[int, int] = PHOTO_SIZE) -> list[str]:
    """`count` JPEG files (quality 90) of smooth random pictures with some grain, written into `folder`."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        coarse = Image.fromarray(rng.integers(0, 256, (size[1] // 40, size[0] // 40, 3), dtype=np.uint8))
        picture = np.asarray(coarse.resize(size, Image.Resampling.BICUBIC), dtype=np.int16)
        picture = np.clip(picture + rng.integers(-6, 7, picture.shape), 0, 255).astype(np.uint8)
        path = folder / f"photo {i}.jpg"
        Image.fromarray(picture).save(path, quality=90)
        paths.append(str(path))
    return paths


def photo_files(folder: Path, count: int, images: str | os.PathLike | None = None) -> tuple[list[str], str]:
    """`count` image paths (the files of `images`, in turn, or synthetic photos written into `folder`)
    and a description of them."""
    if images is None:
        return synthetic_photos(folder, count), f"{count} synthetic {PHOTO_SIZE[0]}x{PHOTO_SIZE[1]} JPEG photos"
    found = sorted(str(p) for p in Path(images).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not found:
        raise UsageError(f"--images {images}: no image files ({', '.join(IMAGE_SUFFIXES)}) in that folder")
    return (found * (count // len(found) + 1))[:count], f"{min(count, len(found))} photos of {images}"


def make_inputs(bundle: str | os.PathLike, manifest: Manifest, artifact: Artifact, batches: Sequence[int],
                texts: Sequence[str] | None = None, seed: int = SEED, work: Path | None = None,
                images: str | os.PathLike | None = None) -> BenchInputs:
    """`ROTATION` batches of each size in `batches` for the bundle's task (image files too when
    `work` names a folder to write them in)."""
    if manifest.kind not in ("text", "image"):
        raise UsageError(f"{Path(bundle).name} is a tensor-only bundle (exported without preprocessing): bench measures "
                         "bundles that take raw texts or images; time Model.run on your own tensors instead, or export "
                         "with --preprocessing or --like")
    shape = artifact.inputs[0].shape if artifact.inputs else None
    preprocessor = make_preprocessor(manifest.kind, manifest.preprocessing, bundle, shape)
    needed = ROTATION * max(batches)
    inputs = BenchInputs()
    if manifest.kind == "text":
        pool = list(texts) if texts else synthetic_reviews(preprocessor.vocabulary, needed, seed)
        source = f"{len(pool)} texts from a file" if texts else (
            f"{needed} synthetic reviews of {REVIEW_WORDS[0]}-{REVIEW_WORDS[1]} words from the bundle's vocabulary")
        pool = (pool * (needed // len(pool) + 1))[:needed]
        words = np.mean([len(t.split()) for t in pool])
        inputs.description = f"{source} (mean {words:.0f} words)"
        for b in batches:
            inputs.texts[b] = [pool[i * b:(i + 1) * b] for i in range(ROTATION)]
            inputs.tensors[b] = [preprocessor(chunk) for chunk in inputs.texts[b]]
        return inputs
    rng = np.random.default_rng(seed)
    height, width = preprocessor.size
    inputs.description = f"random {height}x{width} RGB pixels, normalised ({preprocessor.normalization})"
    for b in batches:
        inputs.tensors[b] = [preprocessor.normalized(rng.integers(0, 256, (b, height, width, 3)).astype(np.uint8))
                             for _ in range(ROTATION)]
    if work is not None:
        paths, source = photo_files(Path(work) / "photos", needed, images)
        inputs.description += f"; image files: {source}"
        for b in batches:
            inputs.files[b] = [paths[i * b:(i + 1) * b] for i in range(ROTATION)]
    return inputs
