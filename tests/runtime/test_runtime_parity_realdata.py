"""Preprocessing parity with Keras on the shared real data: IMDB and Reuters texts decoded back from
their word indexes, and the pet photos. Main environment only; skips without $EDGEPORT_DATA_DIR."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from edgeport.runtime.preprocess import ImagePreprocessor, TextPreprocessor
from tests.runtime.conftest import needs_tf

DATA = Path(os.environ.get("EDGEPORT_DATA_DIR") or "/nonexistent")
pytestmark = [
    pytest.mark.realdata,
    needs_tf,
    pytest.mark.skipif(not DATA.is_dir(), reason="no shared data: set EDGEPORT_DATA_DIR"),
]
TEXT_SPEC = {"type": "text", "vocabulary": "vocab.json", "skip_top": 0, "start_char": 1, "oov_char": 2,
             "index_from": 3, "maxlen": 20, "padding": "pre", "truncating": "pre", "lowercase": True,
             "filters": '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n', "split": " "}


def _vocabulary(name: str, num_words: int) -> tuple[dict[str, int], dict[int, str], str]:
    """vocab.json as export writes it, the id → word map to decode with, and a real word outside it."""
    index = json.loads((DATA / f"{name}_word_index.json").read_text(encoding="utf-8"))
    vocab = {w: r + 3 for w, r in index.items() if r + 3 < num_words}
    outside = next(w for w, r in sorted(index.items(), key=lambda kv: kv[1]) if r + 3 >= num_words and w.isalpha())
    return vocab, {i: w for w, i in vocab.items()}, outside


def _decode(sequence: list[int], words: dict[int, str], outside: str) -> str:
    assert sequence[0] == 1
    return " ".join(words[i] if i >= 3 else outside for i in sequence[1:])


def _check_texts(sequences: list[list[int]], vocab: dict, words: dict, outside: str, num_words: int) -> None:
    from keras.utils import pad_sequences

    texts = [_decode(list(s), words, outside) for s in sequences]
    # mixed case and punctuation must not change a thing
    texts = [t.capitalize().replace(" ", ", ", 1) + "." if i % 3 == 0 else t for i, t in enumerate(texts)]
    text = TextPreprocessor({**TEXT_SPEC, "num_words": num_words}, vocab)
    for sequence, decoded in zip(sequences, texts):
        assert text.token_ids(decoded) == list(sequence)
    for maxlen, padding, truncating in ((20, "pre", "pre"), (200, "post", "post"), (80, "pre", "post")):
        spec = {**TEXT_SPEC, "num_words": num_words, "maxlen": maxlen, "padding": padding, "truncating": truncating}
        ours = TextPreprocessor(spec, vocab)(texts)
        theirs = pad_sequences(sequences, maxlen=maxlen, padding=padding, truncating=truncating)
        assert ours.dtype == theirs.dtype == np.int32
        np.testing.assert_array_equal(ours, theirs)


def test_imdb_subset_tokens_equal_keras():
    data = np.load(DATA / "imdb_subset.npz", allow_pickle=True)  # trusted shared data
    sequences = [list(map(int, s)) for s in list(data["x_train"]) + list(data["x_test"])]
    assert len(sequences) == 6000
    vocab, words, outside = _vocabulary("imdb", 500)
    _check_texts(sequences, vocab, words, outside, 500)


def test_reuters_tokens_equal_keras_loader(monkeypatch):
    import keras.src.datasets.reuters as reuters

    monkeypatch.setattr(reuters, "get_file", lambda *a, **k: str(DATA / "reuters.npz"))
    (x_train, _), (x_test, _) = reuters.load_data(num_words=10000)
    sequences = [list(map(int, s)) for s in list(x_train) + list(x_test)]
    assert len(sequences) == 11228
    vocab, words, outside = _vocabulary("reuters", 10000)
    _check_texts(sequences, vocab, words, outside, 10000)


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_pet_photos_equal_keras_load_img(interpolation):
    from keras.applications.mobilenet import preprocess_input
    from keras.utils import img_to_array, load_img

    photos = sorted(p for p in (DATA / "pets").rglob("*") if p.is_file())
    assert len(photos) == 197
    assert any(" " in p.name or "=" in p.name or "(" in p.name for p in photos)
    image = ImagePreprocessor({"size": [224, 224], "interpolation": interpolation, "normalization": "mobilenet"})
    for start in range(0, len(photos), 50):
        chunk = photos[start:start + 50]
        ours = image([str(p) for p in chunk])
        theirs = np.stack([preprocess_input(img_to_array(load_img(p, target_size=(224, 224),
                                                                   interpolation=interpolation))) for p in chunk])
        assert ours.shape == theirs.shape == (len(chunk), 224, 224, 3)
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6)
