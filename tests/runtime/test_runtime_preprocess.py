"""Text and image preprocessing: Keras' semantics, on small data made here."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from edgeport.runtime.errors import DtypeError, EmptyBatchError, ImageError, ManifestError, ValueRangeError
from edgeport.runtime.preprocess import (
    KERAS_FILTERS, TEXT_DEFAULTS, ImagePreprocessor, ImageSpec, TextPreprocessor, TextSpec, as_items,
    checked_image_spec, checked_text_spec, load_image, normalize, text_to_word_sequence,
)
from tests.runtime.conftest import needs_tf

SPEC = {"type": "text", "vocabulary": "vocab.json", "num_words": 10, "skip_top": 0, "start_char": 1,
        "oov_char": 2, "index_from": 3, "maxlen": 6, "padding": "pre", "truncating": "pre"}
VOCAB = {"the": 4, "film": 5, "it's": 6, "great": 7, "company's": 8, "dull": 9, "rare": 12}


def test_words_follow_keras_text_to_word_sequence():
    assert text_to_word_sequence("It's a GREAT film!!  (Really.)") == ["it's", "a", "great", "film", "really"]
    assert text_to_word_sequence("tab\tnew\nline--dash") == ["tab", "new", "line", "dash"]
    # only the split string splits: NEL (U+0085) stays inside a word, as in the IMDB word index
    assert text_to_word_sequence("most\x85and") == ["most\x85and"]
    assert text_to_word_sequence("A b", lower=False) == ["A", "b"]
    assert text_to_word_sequence("a,b", filters="", split=",") == ["a", "b"]
    assert text_to_word_sequence("") == []


def test_token_ids_use_start_oov_and_vocabulary_range():
    text = TextPreprocessor(SPEC, VOCAB)
    # start, the, film, oov (unknown), it's, great, company's, oov (id 12 >= num_words 10)
    assert text.token_ids("The film, unknown: it's great; company's rare") == [1, 4, 5, 2, 6, 7, 8, 2]
    skip = TextPreprocessor({**SPEC, "skip_top": 6}, VOCAB)
    assert skip.token_ids("the film it's great") == [1, 2, 2, 6, 7]  # ids below skip_top become oov
    assert TextPreprocessor({**SPEC, "start_char": None}, VOCAB).token_ids("film") == [5]


def test_text_batch_is_padded_and_truncated_before():
    batch = TextPreprocessor(SPEC, VOCAB)(["the film", "the film it's great company's dull the"])
    assert batch.dtype == np.int32
    np.testing.assert_array_equal(batch, [[0, 0, 0, 1, 4, 5], [5, 6, 7, 8, 9, 4]])
    post = TextPreprocessor({**SPEC, "padding": "post", "truncating": "post"}, VOCAB)(
        ["the film", "the film it's great company's dull the"])
    np.testing.assert_array_equal(post, [[1, 4, 5, 0, 0, 0], [1, 4, 5, 6, 7, 8]])


WORD_IDS = {f"w{i}": i for i in range(1, 100)}  # word wN is token id N: a text spells its id sequence


def _padded(seqs, maxlen, padding="pre", truncating="pre"):
    """Texts that spell `seqs`, through the device tokeniser (no start character, no out-of-vocabulary words)."""
    spec = {"start_char": None, "maxlen": maxlen, "padding": padding, "truncating": truncating}
    return TextPreprocessor(spec, WORD_IDS)([" ".join(f"w{i}" for i in seq) for seq in seqs])


def test_padding_and_truncating_cases():
    seqs = [[1, 2, 3], [], [4, 5, 6, 7, 8]]
    np.testing.assert_array_equal(_padded(seqs, 4), [[0, 1, 2, 3], [0, 0, 0, 0], [5, 6, 7, 8]])
    np.testing.assert_array_equal(_padded(seqs, 4, "post", "post"), [[1, 2, 3, 0], [0, 0, 0, 0], [4, 5, 6, 7]])
    np.testing.assert_array_equal(_padded(seqs, 5), [[0, 0, 1, 2, 3], [0] * 5, [4, 5, 6, 7, 8]])
    np.testing.assert_array_equal(_padded(seqs, 4, "pre", "post"), [[0, 1, 2, 3], [0, 0, 0, 0], [4, 5, 6, 7]])


@needs_tf
def test_padding_equals_keras_pad_sequences_on_random_sequences():
    from keras.utils import pad_sequences as keras_pad

    rng = np.random.default_rng(0)
    seqs = [[int(i) for i in rng.integers(1, 100, rng.integers(0, 30))] for _ in range(300)]
    for maxlen in (1, 7, 20, 40):
        for padding in ("pre", "post"):
            for truncating in ("pre", "post"):
                np.testing.assert_array_equal(
                    _padded(seqs, maxlen, padding, truncating),
                    keras_pad(seqs, maxlen=maxlen, padding=padding, truncating=truncating), err_msg=f"{maxlen} {padding} {truncating}")


def test_text_spec_errors():
    with pytest.raises(ManifestError, match="padding"):
        TextPreprocessor({**SPEC, "padding": "middle"}, VOCAB)
    with pytest.raises(ManifestError, match="maxlen"):
        TextPreprocessor(SPEC, VOCAB, input_length=20)
    text = TextPreprocessor(SPEC, VOCAB)
    with pytest.raises(EmptyBatchError):
        text([])
    with pytest.raises(DtypeError, match="item 1 is a int"):
        text(["fine", 3])


def test_text_spec_is_the_manifest_fields_checked_with_defaults():
    assert set(TextSpec.__dataclass_fields__) == set(TEXT_DEFAULTS)  # one field per manifest field
    spec = checked_text_spec({**SPEC, "split_pattern": "\\s+", "oov_char": None})
    assert spec == TextSpec(**{**TEXT_DEFAULTS, **{k: v for k, v in SPEC.items() if k in TEXT_DEFAULTS},
                               "split_pattern": "\\s+", "oov_char": None})
    assert checked_text_spec({}) == TextSpec(**TEXT_DEFAULTS)
    text = TextPreprocessor(SPEC, VOCAB)
    assert text.text_spec == checked_text_spec(SPEC) and text.spec == {**TEXT_DEFAULTS, **SPEC}  # the dict is kept
    with pytest.raises(dataclasses.FrozenInstanceError):
        text.text_spec.maxlen = 3
    with pytest.raises(ManifestError, match=r"^manifest\.preprocessing\.pad_char must be an integer 0\.\.2147483647, "
                                            r"got -1; re-export the bundle$"):
        checked_text_spec({"pad_char": -1})
    with pytest.raises(ManifestError, match=r"^manifest\.preprocessing\.truncating must be 'pre' or 'post', got 'x'$"):
        checked_text_spec({"truncating": "x"})


def _picture(width: int = 30, height: int = 20, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3)).astype(np.uint8)


@pytest.mark.parametrize("name", ["2Q== (1) x=y.jpg", "a [b] c=d.png", "plain.bmp"])
def test_image_paths_with_awkward_names(tmp_path, name):
    from PIL import Image

    path = tmp_path / name
    Image.fromarray(_picture()).save(path)
    x = load_image(str(path), (16, 12), "bilinear")
    assert x.shape == (16, 12, 3) and x.dtype == np.float32
    expected = np.asarray(Image.open(path).convert("RGB").resize((12, 16), Image.Resampling.BILINEAR), np.float32)
    np.testing.assert_array_equal(x, expected)
    np.testing.assert_array_equal(load_image(path, (16, 12), "bilinear"), x)  # Path too
    np.testing.assert_array_equal(load_image(path.read_bytes(), (16, 12), "bilinear"), x)  # file bytes


def test_image_objects_and_arrays():
    from PIL import Image

    pixels = _picture()
    same_size = load_image(pixels, (20, 30))
    np.testing.assert_array_equal(same_size, pixels.astype(np.float32))  # no resize when the size matches
    np.testing.assert_array_equal(load_image(Image.fromarray(pixels), (20, 30)), same_size)
    np.testing.assert_array_equal(load_image(pixels.astype(np.float64), (20, 30)), same_size)
    rgba = np.dstack([pixels, np.full(pixels.shape[:2], 7, np.uint8)])
    np.testing.assert_array_equal(load_image(rgba, (20, 30)), same_size)  # alpha dropped, as convert("RGB")
    grey = load_image(pixels[..., 0], (20, 30))
    np.testing.assert_array_equal(grey[..., 0], grey[..., 2])
    resized = load_image(pixels.astype(np.float32), (10, 15), "nearest")
    np.testing.assert_array_equal(resized, load_image(pixels, (10, 15), "nearest"))


def test_normalisation_is_mobilenet_preprocess_input():
    x = np.array([[0.0, 127.5, 255.0]], np.float32)
    np.testing.assert_array_equal(normalize(x.copy(), "mobilenet"), [[-1.0, 0.0, 1.0]])
    np.testing.assert_array_equal(normalize(x.copy(), "none"), x)


def test_bad_images(tmp_path):
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(ImageError, match="cannot read image"):
        load_image(tmp_path / "broken.jpg", (8, 8))
    with pytest.raises(ImageError, match="does not exist"):
        load_image(tmp_path / "missing.png", (8, 8))
    (tmp_path / "notes.jpg").write_text("a shopping list, not a photo")
    (tmp_path / "empty.png").write_bytes(b"")
    for item, message in ((tmp_path / "notes.jpg", r"'.*notes.jpg' is not an image Pillow can read \(JPEG, PNG, "),
                          (b"GIF? no", r"^the data given \(bytes\) is not an image Pillow can read \(JPEG, PNG, "),
                          (tmp_path / "empty.png", r"'.*empty.png' is empty \(0 bytes\), not an image")):
        with pytest.raises(ImageError, match=message) as raised:
            load_image(item, (8, 8))
        assert "object at 0x" not in str(raised.value) and "BytesIO" not in str(raised.value)
    with pytest.raises(ImageError, match="directory"):
        load_image(tmp_path, (8, 8))
    with pytest.raises(ImageError, match="HxWx3"):
        load_image(np.zeros((4, 4, 2), np.uint8), (8, 8))
    with pytest.raises(ValueRangeError, match="NaN"):
        load_image(np.full((4, 4, 3), np.nan, np.float32), (8, 8))
    with pytest.raises(DtypeError):
        load_image(3.5, (8, 8))


def test_image_preprocessor_spec_and_batch():
    spec = {"type": "image", "size": [12, 16], "interpolation": "bilinear", "normalization": "mobilenet"}
    batch = ImagePreprocessor(spec, [None, 12, 16, 3])([_picture(), _picture(seed=1)])
    assert batch.shape == (2, 12, 16, 3) and batch.dtype == np.float32
    assert batch.min() >= -1.0 and batch.max() <= 1.0
    with pytest.raises(ManifestError, match="size"):
        ImagePreprocessor(spec, [None, 32, 32, 3])
    with pytest.raises(ManifestError, match="interpolation"):
        ImagePreprocessor({**spec, "interpolation": "cubic-ish"})
    with pytest.raises(ManifestError, match="size must be"):
        ImagePreprocessor({**spec, "size": 12})


def test_image_spec_is_checked_once_and_read_through_the_preprocessor():
    spec = {"type": "image", "size": [12, 16], "normalization": "mean-std", "mean": [1, 2, 3], "std": [4, 5, 6]}
    assert checked_image_spec(spec) == ImageSpec(size=(12, 16), interpolation="nearest", normalization="mean-std",
                                                 keep_aspect_ratio=False, mean=[1.0, 2.0, 3.0], std=[4.0, 5.0, 6.0],
                                                 dtype="float32")
    pre = ImagePreprocessor(spec)
    assert (pre.size, pre.interpolation, pre.normalization, pre.keep_aspect_ratio, pre.mean, pre.std, pre.dtype) == \
        ((12, 16), "nearest", "mean-std", False, [1.0, 2.0, 3.0], [4.0, 5.0, 6.0], "float32")
    assert pre.image_spec == checked_image_spec(spec)
    with pytest.raises(ManifestError, match=r"^manifest\.preprocessing\.std must be above 0, got \[4\.0, 0\.0, 6\.0\]$"):
        checked_image_spec({**spec, "std": [4, 0, 6]})
    with pytest.raises(ManifestError, match=r"^manifest\.preprocessing\.dtype must be float32, or uint8 with "
                                            r"normalization none; got 'uint8' with 'mean-std'$"):
        checked_image_spec({**spec, "dtype": "uint8"})


def test_one_raw_item_is_a_batch_of_one():
    assert as_items("a text", "text") == ["a text"]
    assert len(as_items(_picture(), "image")) == 1
    assert len(as_items(np.stack([_picture(), _picture()]), "image")) == 2
    assert as_items(("a", "b"), "text") == ["a", "b"]
    assert KERAS_FILTERS.endswith("\t\n")


@needs_tf
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear", "bicubic", "lanczos"])
@pytest.mark.parametrize("keep_aspect_ratio", [False, True])
def test_images_equal_keras_load_img(tmp_path, interpolation, keep_aspect_ratio):
    from keras.applications.mobilenet import preprocess_input
    from keras.utils import img_to_array, load_img
    from PIL import Image

    spec = {"size": [24, 20], "interpolation": interpolation, "normalization": "mobilenet",
            "keep_aspect_ratio": keep_aspect_ratio}
    paths = []
    for i, (mode, suffix) in enumerate([("RGB", ".jpg"), ("RGBA", ".png"), ("L", ".png"), ("P", ".gif")]):
        image = Image.fromarray(_picture(37 + i, 29 + 2 * i, seed=i)).convert(mode)
        paths.append(tmp_path / f"pic ({i}) [x]=y{suffix}")
        image.save(paths[-1])
    ours = ImagePreprocessor(spec)(paths)
    theirs = np.stack([preprocess_input(img_to_array(load_img(
        p, target_size=(24, 20), interpolation=interpolation, keep_aspect_ratio=keep_aspect_ratio))) for p in paths])
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6)
