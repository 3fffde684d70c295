"""Raw input → model tensors, from the manifest's preprocessing spec. No TensorFlow: Pillow for images.

Text follows Keras' classic pipeline exactly: `text_to_word_sequence` (lower-case, every filter
character becomes the split string, split on it, drop empty words), the `keras.datasets` id rules
(`start_char` first, then the word's id when `skip_top <= id < num_words`, else `oov_char`), then
`keras.utils.pad_sequences` (`TextPreprocessor` cuts and pads). Images follow `keras.utils.load_img`
(RGB, resize to (width, height) with the training interpolation, no EXIF rotation) + `img_to_array`
+ `mobilenet.preprocess_input`.

Models from elsewhere (`edgeport-run import`) may split texts on a regular expression (`split_pattern`),
leave unknown words out (`oov_char` null) and pad with another id (`pad_char`), and scale pixels
otherwise (`normalize`) or take them raw as uint8 (`dtype`); without those fields nothing changes.

`KERAS_FILTERS` and `IMAGE_SUFFIXES` are defined here once; training imports them.

Limits (`runtime.limits`): an image is sized from its header before a pixel is decoded and refused
above `MAX_IMAGE_PIXELS`. A JPEG is decoded in draft mode at 1/2, 1/4 or 1/8 scale when it is at least
four times the model's size each way (`JPEG_DRAFT`: camera photos) or when that brings it under the
limit: then, and only then, its pixels differ from Keras' full decode (`decode_scale`); a long text is cut to
the `maxlen × MAX_WORD_CHARS` characters on the side the tokeniser keeps (more when those hold no more
than `maxlen` words) before it is split, which leaves its ids unchanged.
"""

from __future__ import annotations

import functools
import io
import os
import re
import stat
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from edgeport.runtime import limits
from edgeport.runtime.errors import (
    DtypeError, EdgeportError, EmptyBatchError, EngineMissingError, ImageError, ManifestError, ValueRangeError,
)
from edgeport.runtime.bounded_json import parse_json, read_bounded
from edgeport.runtime.manifest import resolve_bundle_path

KERAS_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'  # Keras' `Tokenizer` default: each becomes a split
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")  # files Pillow decodes
READABLE = "JPEG, PNG, BMP, GIF, WebP, TIFF"
TEXT_DEFAULTS: dict[str, Any] = {
    "num_words": None, "skip_top": 0, "start_char": 1, "oov_char": 2, "index_from": 3, "maxlen": None,
    "padding": "pre", "truncating": "pre", "lowercase": True, "filters": KERAS_FILTERS, "split": " ",
    "pad_char": 0, "split_pattern": None,
}
# The tokenisation rules training can choose, as the manifest fields each sets. "mediapipe" is what MediaPipe's
# `RegexTokenizer` and the Task Library's NLClassifier do with the metadata export writes: split on the
# delimiter pattern (RE2's `\w` is ASCII, so the class is spelled out), keep the case, `<START>` first,
# unknown words → `<UNKNOWN>`, cut and padded at the end. "keras" is Keras' classic pipeline.
MEDIAPIPE_SPLIT = "[^0-9A-Za-z_']+"
TOKENIZERS: dict[str, dict[str, Any]] = {
    "keras": {"lowercase": True, "filters": KERAS_FILTERS, "split": " ", "split_pattern": None, "padding": "pre"},
    "mediapipe": {"lowercase": False, "split_pattern": MEDIAPIPE_SPLIT, "padding": "post", "truncating": "post"},
}
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "hamming", "box", "lanczos")
NORMALIZATIONS = ("mobilenet", "tf", "unit", "imagenet-caffe", "mean-std", "none")
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)  # Keras' `imagenet_utils.preprocess_input(mode="caffe")`
PIXEL_DTYPES = ("float32", "uint8")

Preprocessor = Callable[[Sequence[Any]], np.ndarray]
ReadFile = Callable[[str, str], bytes]  # (path relative to the bundle, what it is for) → verified bytes


# ---------------------------------------------------------------- text


@functools.lru_cache(maxsize=32)
def _filter_table(filters: str, split: str) -> dict[int, str]:
    return str.maketrans({c: split for c in filters})


def text_to_word_sequence(text: str, filters: str = KERAS_FILTERS, lower: bool = True, split: str = " ") -> list[str]:
    """Keras' classic word splitter: filter characters become `split`, then split on `split` only."""
    if lower:
        text = text.lower()
    return list(filter(None, text.translate(_filter_table(filters, split)).split(split)))


class TextPreprocessor:
    """Strings → int32 token ids of shape (n, maxlen), as the Keras datasets and `keras.utils.pad_sequences` give them."""

    def __init__(self, spec: dict[str, Any], vocabulary: dict[str, int], input_length: int | None = None):
        self.spec = {**TEXT_DEFAULTS, **spec}
        s = self.spec
        _check_text_spec(s)
        for key in ("padding", "truncating"):
            if s[key] not in ("pre", "post"):
                raise ManifestError(f"manifest.preprocessing.{key} must be 'pre' or 'post', got {s[key]!r}")
        maxlen = s["maxlen"] if s["maxlen"] is not None else input_length
        if maxlen is None or (input_length is not None and maxlen != input_length):
            raise ManifestError(
                f"manifest.preprocessing.maxlen is {s['maxlen']!r} but the model takes sequences of {input_length}; "
                "re-export the bundle"
            )
        self.maxlen = int(maxlen)
        self.num_words = s["num_words"]
        self.vocabulary = vocabulary
        low, high = s["skip_top"], self.num_words
        # word → final id, for the words whose id is in range; every other word becomes oov_char
        self._ids = {w: i for w, i in vocabulary.items() if low <= i and (high is None or i < high)}
        self._pattern = re.compile(s["split_pattern"]) if s["split_pattern"] is not None else None
        self._ascii = self._ascii_plan()

    def _ascii_plan(self) -> tuple[bytes, bytes, dict[bytes, int]] | None:
        """For ASCII texts, the same split on bytes (a 256-byte translate table), far faster than on str."""
        split = self.spec["split"]
        if not (isinstance(split, str) and len(split) == 1 and split.isascii()):
            return None
        if self._pattern is not None or self.spec["oov_char"] is None:
            return None
        table = bytearray(range(256))
        for c in self.spec["filters"]:
            if c.isascii():  # other filter characters cannot occur in ASCII text
                table[ord(c)] = ord(split)
        return bytes(table), split.encode(), {w.encode(): i for w, i in self._ids.items() if w.isascii()}

    def words(self, text: str, lower: bool | None = None) -> list[str]:
        """The words of `text` by the spec's split rule (`lower` defaults to the spec's `lowercase`)."""
        s = self.spec
        lower = s["lowercase"] if lower is None else lower
        if self._pattern is None:
            return text_to_word_sequence(text, s["filters"], lower, s["split"])
        return list(filter(None, self._pattern.split(text.lower() if lower else text)))

    def token_ids(self, text: str) -> list[int]:
        """One text → its id sequence before padding (start_char first, unknown words → oov_char, or
        left out when oov_char is null)."""
        s = self.spec
        get, oov = self._ids.get, s["oov_char"]
        start = [s["start_char"]] if s["start_char"] is not None else []
        ids = [get(w, oov) for w in self.words(text)]
        return start + (ids if oov is not None else [i for i in ids if i is not None])

    def kept_ids(self, text: str) -> list[int]:
        """`token_ids(text)` already cut to `maxlen` as `truncating` says: only the words kept are looked up.
        The text is first cut to `maxlen × limits.MAX_WORD_CHARS` characters on the side kept."""
        s, maxlen = self.spec, self.maxlen
        if maxlen == 0:
            return []
        text = self._cut(text)
        if self._ascii is not None and text.isascii():
            table, sep, ids = self._ascii
            data = text.encode("ascii")
            words: list = self._words_near_cut((data.lower() if s["lowercase"] else data).translate(table), sep)
            get = ids.get
        else:
            words, get = self.words(text), self._ids.get
        start = [s["start_char"]] if s["start_char"] is not None else []
        oov = s["oov_char"]
        if oov is None:  # unknown words are left out: look up before cutting
            words, get = [i for i in map(get, words) if i is not None], _found
        if len(start) + len(words) > maxlen:
            if s["truncating"] == "pre":
                start, words = [], words[-maxlen:]
            else:
                words = words[: maxlen - len(start)]
        return start + [get(w, oov) for w in words]

    def _cut(self, text: str) -> str:
        """The end of `text` that `truncating` keeps, `maxlen × limits.MAX_WORD_CHARS` characters long, when
        it holds more than `maxlen` words (so a word cut in two at its edge is never kept); else 4× as
        much, and so on: the ids are those of the whole text, found without splitting all of it. Where
        unknown words are left out (`oov_char` null), only the words of the vocabulary count."""
        bound, pre = self.maxlen * limits.MAX_WORD_CHARS, self.spec["truncating"] == "pre"
        dropping = self.spec["oov_char"] is None
        while len(text) > bound:
            part = text[-bound:] if pre else text[:bound]
            words = self.words(part, lower=None if dropping else False)
            if (sum(w in self._ids for w in words) if dropping else len(words)) > self.maxlen:
                return part
            bound *= 4
        return text

    def _words_near_cut(self, data: bytes, sep: bytes) -> list[bytes]:
        """The non-empty words of `data`, or, when it holds at least `maxlen` of them, only those on the side
        `truncating` keeps (at least `maxlen`, in order): a long review is not split word by word."""
        n, pre = self.maxlen + self.maxlen // 2 + 2, self.spec["truncating"] == "pre"  # slack for empty words
        parts = data.rsplit(sep, n) if pre else data.split(sep, n)
        if len(parts) <= n:  # split completely
            return list(filter(None, parts))
        near = list(filter(None, parts[1:] if pre else parts[:-1]))
        return near if len(near) >= self.maxlen else list(filter(None, data.split(sep)))

    def __call__(self, items: Sequence[Any]) -> np.ndarray:
        if not len(items):
            raise EmptyBatchError("the batch is empty: pass at least one text")
        sequences = [self.kept_ids(_as_text(item, i)) for i, item in enumerate(items)]
        maxlen, pad = self.maxlen, [self.spec["pad_char"]]  # each sequence is already cut to maxlen: only padding is left
        if self.spec["padding"] == "pre":
            return np.array([pad * (maxlen - len(seq)) + seq for seq in sequences], dtype=np.int32).reshape(-1, maxlen)
        return np.array([seq + pad * (maxlen - len(seq)) for seq in sequences], dtype=np.int32).reshape(-1, maxlen)


INT32_MAX = 2**31 - 1


def _found(token_id: int, _default: Any) -> int:
    return token_id  # the lookup of a word already looked up


# What tokenisers split on: one character class, class escape or plain character, optionally repeated
# (`[^\w']+`, `\s+`, `\W+`, `,`). Nothing nested, so `re` matches it in linear time: a crafted pattern
# such as `(?:a+)+$` cannot make a text take exponential time.
SPLIT_PATTERN = re.compile(r"(?:\[\^?(?:[^\\\[\]]|\\.)+\]|\\[sSwWdD]|\\[^A-Za-z0-9]|[^\\\[\](){}|*+?.^$])\+?", re.DOTALL)


def _check_text_spec(s: dict[str, Any]) -> None:
    """Refuse a text spec whose fields have the wrong type or range, naming the field."""
    def bad(key: str, want: str) -> ManifestError:
        return ManifestError(f"manifest.preprocessing.{key} must be {want}, got {s[key]!r}; re-export the bundle")

    def integer(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    for key in ("filters", "split"):
        if not isinstance(s[key], str) or (key == "split" and not s[key]):
            raise bad(key, "a string" if key == "filters" else "a non-empty string")
    if not isinstance(s["lowercase"], bool):
        raise bad("lowercase", "true or false")
    for key, optional in (("start_char", True), ("oov_char", True), ("skip_top", False), ("index_from", False),
                          ("pad_char", False)):
        value = s[key]
        if not (value is None and optional) and not (integer(value) and 0 <= value <= INT32_MAX):
            raise bad(key, f"an integer 0..{INT32_MAX}" + (" or null" if optional else ""))
    if s["num_words"] is not None and not (integer(s["num_words"]) and 0 < s["num_words"] <= INT32_MAX):
        raise bad("num_words", f"a positive integer up to {INT32_MAX} or null")
    if s["maxlen"] is not None and not (integer(s["maxlen"]) and s["maxlen"] >= 0):
        raise bad("maxlen", "a non-negative integer or null")
    if s["split_pattern"] is not None:
        if not (isinstance(s["split_pattern"], str) and SPLIT_PATTERN.fullmatch(s["split_pattern"])):
            raise bad("split_pattern", "one character class, class escape or character, optionally followed by + "
                      "(e.g. [^\\w']+ or \\s+: what separates words, matched in linear time), or null")
        try:
            re.compile(s["split_pattern"])
        except re.error:
            raise bad("split_pattern", "a valid regular expression") from None


def _as_text(item: Any, position: int) -> str:
    if isinstance(item, bytes):
        try:
            return item.decode("utf-8")
        except UnicodeDecodeError:
            raise DtypeError(f"item {position} is bytes that are not UTF-8 text; pass str") from None
    if not isinstance(item, str):
        raise DtypeError(f"item {position} is a {type(item).__name__}; this text model takes strings")
    return item


def vocabulary_from_bytes(data: bytes, where: str = "vocab.json") -> dict[str, int]:
    """Parse `vocab.json` bytes: a JSON object word → final token id (bounded in size and depth)."""
    vocab = parse_json(data, f"the vocabulary file {where}", limits.MAX_VOCABULARY_BYTES)
    if not isinstance(vocab, dict) or not all(type(v) is int for v in vocab.values()):
        raise ManifestError(f"the vocabulary file {where} must be a JSON object word → integer id")
    return vocab


def load_vocabulary(path: Path) -> dict[str, int]:
    """Read `vocab.json` from a path (unverified: `runtime.load` reads it through the manifest instead)."""
    if not path.is_file():
        raise ManifestError(f"the vocabulary file {path} is missing; re-export or re-copy the bundle")
    return vocabulary_from_bytes(read_bounded(path, limits.MAX_VOCABULARY_BYTES, ManifestError), str(path))


# ---------------------------------------------------------------- images


@functools.lru_cache(maxsize=1)
def _pil():
    try:
        from PIL import Image
    except ImportError:
        raise EngineMissingError("reading images needs Pillow: pip install 'edgeport[image]'") from None
    # Pillow warns from Image.open above its own limit (89 megapixels); this runtime refuses or drafts
    # above limits.MAX_IMAGE_PIXELS before decoding, so the warning says nothing more (set once: a
    # per-call warnings.catch_warnings is not thread-safe).
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
    return Image


def _resample(interpolation: str) -> int:
    Image = _pil()
    return getattr(getattr(Image, "Resampling", Image), interpolation.upper())


def load_image(item: Any, size: tuple[int, int], interpolation: str = "bilinear",
               keep_aspect_ratio: bool = False, draft: bool | None = None) -> np.ndarray:
    """A path, file bytes, PIL image or HxWx3 array → float32 (height, width, 3) pixels in 0..255.

    `img_to_array(load_img(path, target_size=size, interpolation=...))`: RGB conversion, resize only
    when the size differs, no EXIF rotation. Float arrays are taken as 0..255 pixels. A JPEG at least
    four times the target size each way is decoded at 1/2, 1/4 or 1/8 first (`decode_scale`;
    `draft=False` or `limits.JPEG_DRAFT` turns that off): the same picture, within a few grey levels.
    """
    return load_pixels(item, size, interpolation, keep_aspect_ratio, draft).astype(np.float32, copy=False)


def load_pixels(item: Any, size: tuple[int, int], interpolation: str = "bilinear",
                keep_aspect_ratio: bool = False, draft: bool | None = None,
                lut: bytes | Sequence[int] | None = None) -> np.ndarray:
    """`load_image`'s pixels as decoded: uint8 (height, width, 3), or float32 for a float array.
    `lut` (a `PixelTable.lut`) maps each decoded byte before the pixels are returned: 256 bytes, one map
    for every channel (applied by `bytes.translate`), or 768 values, 256 per channel (`Image.point`).
    A float array is returned as it is."""
    Image = _pil()
    height, width = size
    if isinstance(item, np.ndarray) and item.dtype.kind == "f":
        return _resize_float_array(item, size, interpolation)
    image = _open_image(item, Image)
    try:
        declared, scale = image.size, 1
        if not isinstance(item, Image.Image):
            scale = _prepare_decode(image, item, (width, height) if _drafting(draft) else None)
        if image.mode != "RGB":
            image = image.convert("RGB")
        box = _aspect_crop(declared, (width, height)) if keep_aspect_ratio else None
        if scale > 1:  # the crop, or the whole picture, in the reduced image's coordinates (blocks cut at the edge)
            box = tuple(v / scale for v in (box or (0, 0, *declared)))
        if image.size != (width, height) or (scale > 1 and box != (0, 0, *image.size)):
            image = image.resize((width, height), _resample(interpolation), box=box)
        if isinstance(lut, bytes):  # one map for all channels: a C loop over the bytes, no Python per value
            mapped = bytearray(image.tobytes()).translate(lut)
            pixels = np.frombuffer(mapped, dtype=np.uint8).reshape(image.size[1], image.size[0], 3)
        else:
            pixels = np.asarray(image if lut is None else image.point(lut), dtype=np.uint8)
    except EdgeportError:
        raise
    except MemoryError:
        raise ImageError(f"image {_describe(item)} needs more memory than is free to decode") from None
    except Exception as exc:  # noqa: BLE001 — any decoder failure on damaged bytes is an unreadable image
        raise ImageError(f"cannot read image {_describe(item)}: {type(exc).__name__}: {exc}") from None
    if pixels.shape != (height, width, 3):
        raise ImageError(f"image {_describe(item)} decoded to shape {pixels.shape}, not ({height}, {width}, 3)")
    return pixels


DRAFT_SCALES = (8, 4, 2, 1)  # the reductions a JPEG decoder gives for free (DCT scaling)
DRAFT_MARGIN = 2  # a reduced decode keeps at least twice the target size each way


def decode_scale(declared: tuple[int, int], target: tuple[int, int] | None) -> int:
    """How much a JPEG of `declared` (width, height) pixels is reduced while decoding: 1, 2, 4 or 8.

    The largest reduction that still leaves at least `DRAFT_MARGIN` × `target` (width, height) each
    way, so the final resize still shrinks (and filters) much as from the full decode; 1 without a
    target. Raised further when the image would decode to more than `limits.MAX_IMAGE_PIXELS`; 0 when
    even 1/8 would.
    """
    width, height = declared
    fits = min(width // (DRAFT_MARGIN * target[0]), height // (DRAFT_MARGIN * target[1])) if target else 1
    scale = next(s for s in DRAFT_SCALES if s <= max(fits, 1))
    while scale <= 8 and -(-width // scale) * -(-height // scale) > limits.MAX_IMAGE_PIXELS:
        scale *= 2
    return scale if scale <= min(8, width, height) else 0


def decoded_size(item: Any, size: tuple[int, int], draft: bool | None = None) -> tuple[int, int]:
    """(width, height) `load_image(item, size)` decodes `item` at before resizing it to `size`
    (height, width): smaller than the file's for a JPEG well above `size`. Nothing is decoded."""
    Image = _pil()
    if isinstance(item, np.ndarray):
        return (item.shape[1], item.shape[0]) if item.ndim >= 2 else (0, 0)
    image = _open_image(item, Image)
    if not isinstance(item, Image.Image):
        try:
            _prepare_decode(image, item, (size[1], size[0]) if _drafting(draft) else None)
        except EdgeportError:
            raise
        except Exception as exc:  # noqa: BLE001 — as load_image: a damaged header is an unreadable image
            raise ImageError(f"cannot read image {_describe(item)}: {type(exc).__name__}: {exc}") from None
    return image.size


def _drafting(draft: bool | None) -> bool:
    return limits.JPEG_DRAFT if draft is None else bool(draft)


def _prepare_decode(image: Any, item: Any, target: tuple[int, int] | None) -> int:
    """Size an opened image from its header, before decoding: a JPEG is set to decode at reduced size
    (`decode_scale`, Pillow's draft mode), any image above `limits.MAX_IMAGE_PIXELS` after that is
    refused. Returns the reduction (1 when none)."""
    limit = limits.MAX_IMAGE_PIXELS
    width, height = image.size
    if width <= 0 or height <= 0:
        raise ImageError(f"image {_describe(item)} declares an empty size {width}×{height}")
    scale = 1
    if image.format == "JPEG":
        scale = decode_scale((width, height), target)
        if scale > 1:
            image.draft("RGB", (width // scale, height // scale))  # Pillow picks this very scale from that size
            # what the decoder will do (it may decline: full size), read back from the size it now declares
            scale = next((s for s in DRAFT_SCALES if image.size == (-(-width // s), -(-height // s))), 1)
    if scale and image.size[0] * image.size[1] <= limit:
        return scale
    raise ImageError(f"image {_describe(item)} is {width}×{height} = {width * height:,} pixels, more than the "
                     f"{limit:,} this runtime decodes (limits.MAX_IMAGE_PIXELS, EDGEPORT_MAX_IMAGE_PIXELS); "
                     "scale it down before sending it")


def _open_image(item: Any, Image) -> Any:
    if isinstance(item, Image.Image):
        return item
    if isinstance(item, np.ndarray):
        if item.dtype != np.uint8 or item.ndim not in (2, 3) or (item.ndim == 3 and item.shape[2] not in (1, 3, 4)):
            raise ImageError(
                f"an image array must be HxWx3 uint8 (or float 0..255), got shape {item.shape} {item.dtype}"
            )
        return Image.fromarray(item[..., 0] if item.ndim == 3 and item.shape[2] == 1 else item)
    try:
        data = None
        if isinstance(item, (bytes, bytearray, memoryview)):
            data = bytes(item)
        elif isinstance(item, (str, os.PathLike)):
            data = _read_image_file(item)  # as load_img does: the whole file, then decode
        if data is not None:
            if not data:
                raise ImageError(f"{_named(item)} is empty (0 bytes), not an image; pass a photo ({READABLE})")
            return _open_header(data, Image)
    except ImageError:
        raise
    except FileNotFoundError:
        raise ImageError(f"image file {os.fspath(item)!r} does not exist") from None
    except Image.UnidentifiedImageError:
        raise ImageError(f"{_named(item)} is not an image Pillow can read ({READABLE}); pass a photo in one of "
                         "those formats") from None
    except IsADirectoryError:
        raise ImageError(f"{os.fspath(item)!r} is a directory, not an image file") from None
    except (ValueError, TypeError) as exc:  # e.g. a path with a NUL character
        raise ImageError(f"cannot open image {_describe(item)}: {exc}") from None
    except OSError as exc:
        raise ImageError(f"cannot read image {_describe(item)}: {exc}") from None
    raise DtypeError(f"cannot use a {type(item).__name__} as an image: pass a path, PIL image or HxWx3 array")


def _read_image_file(path: str | os.PathLike) -> bytes:
    """The bytes of a regular file, at most `limits.MAX_IMAGE_FILE_BYTES`: never a device, FIFO or socket
    (`/dev/zero` would be read until memory runs out)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO would block an open() without it
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ImageError(f"{os.fspath(path)!r} is not a regular file (a device, FIFO or socket); pass an image file")
        if info.st_size > limits.MAX_IMAGE_FILE_BYTES:
            raise ImageError(f"{os.fspath(path)!r} is {info.st_size:,} bytes, more than the "
                             f"{limits.MAX_IMAGE_FILE_BYTES:,} an image file may be (limits.MAX_IMAGE_FILE_BYTES)")
        return handle.read(limits.MAX_IMAGE_FILE_BYTES + 1)
def _named(item: Any) -> str:
    return f"{os.fspath(item)!r}" if isinstance(item, (str, os.PathLike)) else f"the data given ({type(item).__name__})"


def _open_header(data: bytes, Image) -> Any:
    """`Image.open` (which reads only the header): Pillow's own decompression-bomb check is replaced by
    `_prepare_decode`, which can still draft a JPEG Pillow would refuse outright."""
    try:
        return Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        if data[:3] != b"\xff\xd8\xff":
            raise ImageError(f"image declares more than {Image.MAX_IMAGE_PIXELS * 2:,} pixels, far more than the "
                             f"{limits.MAX_IMAGE_PIXELS:,} this runtime decodes (limits.MAX_IMAGE_PIXELS)") from None
    from PIL import JpegImagePlugin

    try:
        return JpegImagePlugin.JpegImageFile(io.BytesIO(data))  # the header only, without Pillow's bomb check
    except Exception as exc:  # noqa: BLE001
        raise ImageError(f"cannot read a JPEG header: {type(exc).__name__}: {exc}") from None


def _resize_float_array(array: np.ndarray, size: tuple[int, int], interpolation: str) -> np.ndarray:
    if array.ndim != 3 or array.shape[2] != 3:
        raise ImageError(f"a float image array must be HxWx3, got shape {array.shape}")
    array = array.astype(np.float32, copy=False)
    if not np.all(np.isfinite(array)):
        raise ValueRangeError("an image array holds NaN or inf; pass finite pixel values 0..255")
    if array.shape[:2] == tuple(size):
        return array
    Image = _pil()
    height, width = size
    channels = [
        np.asarray(Image.fromarray(np.ascontiguousarray(array[..., c])).resize((width, height), _resample(interpolation)))
        for c in range(3)
    ]
    return np.stack(channels, axis=-1).astype(np.float32)


def _aspect_crop(current: tuple[int, int], target: tuple[int, int]) -> tuple[int, int, int, int]:
    """The centre crop `load_img(keep_aspect_ratio=True)` takes before resizing."""
    width, height = current
    target_width, target_height = target
    crop_height = (width * target_height) // target_width
    crop_width = (height * target_width) // target_height
    crop_height, crop_width = min(height, crop_height), min(width, crop_width)
    x, y = (width - crop_width) // 2, (height - crop_height) // 2
    return (x, y, x + crop_width, y + crop_height)


def _describe(item: Any) -> str:
    return repr(os.fspath(item)) if isinstance(item, (str, os.PathLike)) else f"({type(item).__name__})"


def normalize(pixels: np.ndarray, normalization: str, mean: Sequence[float] | None = None,
              std: Sequence[float] | None = None) -> np.ndarray:
    """0..255 RGB pixels (float32, channels last) → the model's input scale.

    `mobilenet` (alias `tf`): x / 127.5 - 1, as `mobilenet.preprocess_input`; `unit`: x / 255;
    `imagenet-caffe`: RGB → BGR less the ImageNet mean, as `preprocess_input(mode="caffe")`;
    `mean-std`: (x - mean) / std per channel, both in pixel units; `none`: unchanged."""
    if normalization in ("mobilenet", "tf"):
        pixels = pixels / np.float32(127.5)
        pixels -= np.float32(1.0)
    elif normalization == "unit":
        pixels = pixels / np.float32(255.0)
    elif normalization == "imagenet-caffe":
        pixels = pixels[..., ::-1] - np.asarray(CAFFE_MEAN_BGR, dtype=np.float32)
    elif normalization == "mean-std":
        pixels = (pixels - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    return pixels


class ImagePreprocessor:
    """Images → float32 (n, height, width, 3), normalised as in training; or, with `"dtype": "uint8"`
    (normalization `none` only), the raw uint8 pixels a model with uint8 input takes as they are."""

    def __init__(self, spec: dict[str, Any], input_shape: Sequence[int | None] | None = None):
        size = spec.get("size")
        if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size)):
            raise ManifestError(f"manifest.preprocessing.size must be [height, width], got {size!r}")
        self.size = (size[0], size[1])
        self.interpolation = spec.get("interpolation", "nearest")
        self.normalization = spec.get("normalization", "none")
        self.keep_aspect_ratio = bool(spec.get("keep_aspect_ratio", False))
        if spec.get("color_mode", "rgb") != "rgb":
            raise ManifestError(f"manifest.preprocessing.color_mode {spec.get('color_mode')!r} is not supported; use rgb")
        if self.interpolation not in INTERPOLATIONS:
            raise ManifestError(f"manifest.preprocessing.interpolation must be one of {', '.join(INTERPOLATIONS)}")
        if self.normalization not in NORMALIZATIONS:
            raise ManifestError(f"manifest.preprocessing.normalization must be one of {', '.join(NORMALIZATIONS)}")
        self.mean, self.std = _mean_std(spec) if self.normalization == "mean-std" else (None, None)
        self.dtype = spec.get("dtype", "float32")
        if self.dtype not in PIXEL_DTYPES or (self.dtype == "uint8" and self.normalization != "none"):
            raise ManifestError(f"manifest.preprocessing.dtype must be float32, or uint8 with normalization none; "
                                f"got {self.dtype!r} with {self.normalization!r}")
        if input_shape is not None and len(input_shape) == 4 and None not in input_shape[1:3] \
                and tuple(input_shape[1:3]) != self.size:
            raise ManifestError(
                f"manifest.preprocessing.size is {list(self.size)} but the model takes {list(input_shape[1:3])}; "
                "re-export the bundle"
            )

    def __call__(self, items: Sequence[Any]) -> np.ndarray:
        return self.normalized(self.pixels(items))

    def pixels(self, items: Sequence[Any], lut: Sequence[int] | None = None) -> np.ndarray:
        """Images → their (n, height, width, 3) pixels before normalisation: uint8 (each mapped through
        `lut` when given, see `load_pixels`), or float32 when an item is a float array."""
        if not len(items):
            raise EmptyBatchError("the batch is empty: pass at least one image")
        pixels = [load_pixels(item, self.size, self.interpolation, self.keep_aspect_ratio, lut=lut) for item in items]
        if any(p.dtype != np.uint8 for p in pixels):
            return np.stack([p.astype(np.float32, copy=False) for p in pixels])
        return pixels[0][None] if len(pixels) == 1 else np.stack(pixels)

    def normalized(self, pixels: np.ndarray) -> np.ndarray:
        """`pixels` (any numeric dtype, values 0..255) → float32, normalised as in training (uint8 for a
        `dtype: uint8` spec)."""
        if self.dtype == "uint8":  # a uint8 input takes the pixels as they are
            return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)
        return normalize(pixels.astype(np.float32, copy=False), self.normalization, self.mean, self.std)


def _mean_std(spec: dict[str, Any]) -> tuple[list[float], list[float]]:
    """The `mean` and `std` of a `mean-std` spec: three numbers each (R, G, B), every std above 0."""
    def numbers(key: str) -> list[float]:
        value = spec.get(key)
        if not (isinstance(value, list) and len(value) == 3
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in value)):
            raise ManifestError(f"manifest.preprocessing.{key} must be three numbers (R, G, B), got {value!r}")
        return [float(v) for v in value]

    mean, std = numbers("mean"), numbers("std")
    if min(std) <= 0:
        raise ManifestError(f"manifest.preprocessing.std must be above 0, got {std}")
    return mean, std


def as_items(raw: Any, kind: str) -> list[Any]:
    """One raw item or a sequence of them → a list (a str, path, PIL image or 3-D array is one item)."""
    if type(raw) is list:
        return list(raw)
    if isinstance(raw, Mapping):  # iterating a dict would classify its keys
        raise DtypeError(f"cannot use a {type(raw).__name__} as model input: pass a list of items "
                         "(for named tensors, use predict_tensor or run)")
    if isinstance(raw, (str, bytes, os.PathLike)):
        return [raw]
    if isinstance(raw, np.ndarray):
        return [raw] if (kind == "image" and raw.ndim == 3) or raw.ndim == 0 else list(raw)
    if kind == "image" and hasattr(raw, "getbands"):  # a PIL image
        return [raw]
    if not isinstance(raw, Iterable):
        raise DtypeError(f"cannot use a {type(raw).__name__} as model input: pass a list of items")
    return list(raw)


def make_preprocessor(kind: str, spec: dict[str, Any], bundle_dir: str | os.PathLike,
                      input_shape: Sequence[int | None] | None, read: ReadFile | None = None) -> Preprocessor:
    """The preprocessor a bundle's manifest asks for; checks the spec against the model's input.
    `read(relative_path, purpose)` gives a file's verified bytes (`runtime.load` passes one that checks
    the manifest's `files`); without it the file is read from the bundle directory unverified."""
    declared = spec.get("type", kind)
    if declared != kind:
        raise ManifestError(f"manifest.preprocessing.type is {declared!r} but the task kind is {kind!r}")
    if kind == "text":
        vocab_file = spec.get("vocabulary")
        if not isinstance(vocab_file, str):
            raise ManifestError("manifest.preprocessing.vocabulary must name the vocabulary file (vocab.json)")
        where = "manifest.preprocessing.vocabulary"
        if read is None:
            vocab = load_vocabulary(resolve_bundle_path(bundle_dir, vocab_file, where))
        else:
            vocab = vocabulary_from_bytes(read(vocab_file, where), vocab_file)
        length = input_shape[1] if input_shape is not None and len(input_shape) == 2 else None
        return TextPreprocessor(spec, vocab, length)
    return ImagePreprocessor(spec, input_shape)
