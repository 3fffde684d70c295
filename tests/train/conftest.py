"""Small datasets in Keras' own formats, made in the test."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

WORDS = ["the", "film", "great", "dull", "plot", "acting", "it's", "long", "fun", "bad", "good", "story"]


def ragged(rng: np.random.RandomState, n: int, vocab: int, min_len: int = 3, max_len: int = 40) -> np.ndarray:
    """Raw word ranks (1-based, as Keras stores them) in an object array of lists."""
    seqs = np.empty(n, dtype=object)
    for i in range(n):
        seqs[i] = [int(w) for w in rng.randint(1, vocab, size=rng.randint(min_len, max_len))]
    return seqs


def sentiment(rng: np.random.RandomState, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Learnable reviews: positive ones draw words from ranks 1-39, negative ones from 20-59."""
    labels = rng.randint(0, 2, n)
    seqs = np.empty(n, dtype=object)
    for i, label in enumerate(labels):
        low = 1 if label else 20
        seqs[i] = [int(w) for w in rng.randint(low, low + 39, size=rng.randint(8, 30))]
    return seqs, labels


def write_text_datasets(root: Path, seed: int = 0, n: int = 120) -> Path:
    """`imdb.npz` and `reuters.npz` as Keras downloads them (raw ranks), plus word indexes."""
    rng = np.random.RandomState(seed)
    root.mkdir(parents=True, exist_ok=True)
    (x_train, y_train), (x_test, y_test) = sentiment(rng, n), sentiment(rng, n // 2)
    np.savez(root / "imdb.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    np.savez(root / "reuters.npz", x=ragged(rng, n, 60), y=rng.randint(0, 46, n))
    index = {w: i + 1 for i, w in enumerate(WORDS)}
    for name in ("imdb", "reuters"):
        (root / f"{name}_word_index.json").write_text(json.dumps(index))
    return root


def write_image_folder(root: Path, classes: dict[str, int], size: int = 40, seed: int = 0) -> Path:
    """Class sub-folders of small JPEG/PNG files whose names have spaces, brackets and '='."""
    from PIL import Image

    rng = np.random.RandomState(seed)
    for c, (name, count) in enumerate(classes.items()):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            base = np.zeros((size, size + 7, 3), dtype=np.uint8)
            base[..., c % 3] = 180  # each class has its own colour, so a tiny model can learn it
            pixels = np.clip(base + rng.randint(0, 60, base.shape), 0, 255).astype(np.uint8)
            suffix = ".jpg" if i % 2 else ".png"
            Image.fromarray(pixels).save(folder / f"2Q== ({i}) x=y{suffix}")
    return root


@pytest.fixture
def text_data_dir(tmp_path: Path) -> Path:
    return write_text_datasets(tmp_path / "data")


@pytest.fixture
def shared_data_dir() -> Path:
    value = os.environ.get("EDGEPORT_DATA_DIR")
    if not value or not Path(value).is_dir():
        pytest.skip("real data not available: set EDGEPORT_DATA_DIR (make test sets it to ../shared/data)")
    return Path(value)
