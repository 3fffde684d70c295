"""Property-based fuzzing for the runtime: hypothesis settings profiles and the strategies the fuzz tests share.

`EDGEPORT_FUZZ=ci` (the default: a few hundred examples per property, fixed seed, as `make test` runs
them) or `EDGEPORT_FUZZ=fuzz` (`make fuzz`: 10,000 per property, `EDGEPORT_FUZZ_EXAMPLES` to change).
Both are derandomised, so a failure reproduces with the same command.
"""

from __future__ import annotations

import io
import json
import os
import struct

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from edgeport.runtime.errors import EdgeportError
from edgeport.runtime.manifest_digest import rendered, signed

PROFILE = os.environ.get("EDGEPORT_FUZZ", "ci")
EXAMPLES = int(os.environ.get("EDGEPORT_FUZZ_EXAMPLES", 10_000 if PROFILE == "fuzz" else 200))
settings.register_profile(PROFILE, max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                          print_blob=False, suppress_health_check=list(HealthCheck))
settings.load_profile(PROFILE)


def expect_typed(call, *args, **kwargs):
    """`call(...)`'s result, or None when it raised an edgeport error with a message; any other exception
    is a bug and propagates."""
    try:
        return call(*args, **kwargs)
    except EdgeportError as exc:
        assert str(exc).strip(), f"{type(exc).__name__} without a message"
        return None


# ---------------------------------------------------------------- text

ENCODINGS = ["utf-8", "utf-16", "utf-32", "latin-1", "cp1252", "shift_jis", "gb18030", "koi8-r", "utf-7"]
any_char = st.characters(codec=None, categories=None)  # every code point: surrogates and controls too
text_item = st.one_of(
    st.text(any_char, max_size=300),
    st.binary(max_size=300),
    st.builds(lambda t, enc: t.encode(enc, "replace"), st.text(max_size=60), st.sampled_from(ENCODINGS)),
    st.builds(lambda t, n: t * n, st.text(any_char, min_size=1, max_size=12), st.integers(1, 120_000)),  # ≤ ~1.4 MB
    st.sampled_from(["", " ", "\x00", "\ud800", "great film", "GREAT, fun!", "\t\n", "a" * 5000]),
    st.none(), st.integers(), st.floats(), st.lists(st.text(max_size=3), max_size=2),
)
text_batch = st.one_of(st.lists(text_item, max_size=6), text_item, st.tuples(text_item, text_item))

# ---------------------------------------------------------------- tensors


@st.composite
def tensors(draw, valid_shape: tuple[int, ...], id_high: int | None):
    """Arrays of every dtype and shape, NaN and inf, non-contiguous, read-only and huge batches; some valid."""
    from hypothesis.extra import numpy as hnp

    kind = draw(st.sampled_from(["any", "any", "valid", "huge", "strided", "readonly"]))
    if kind == "any":
        dtype = draw(st.one_of(hnp.scalar_dtypes(), hnp.byte_string_dtypes(max_len=3), hnp.unicode_string_dtypes(max_len=3)))
        shape = draw(hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=24))
        return draw(hnp.arrays(dtype, shape))
    n = draw(st.integers(0, 40))
    if id_high is not None:
        x = draw(hnp.arrays(np.int64, (n, *valid_shape), elements=st.integers(-3, id_high + 3)))
        x = x.astype(draw(st.sampled_from([np.int32, np.int64, np.int8, np.uint16, np.float32, np.float64])))
    else:
        x = draw(hnp.arrays(np.float32, (n, *valid_shape), elements=st.floats(-3, 3, width=32) | st.sampled_from(
            [np.nan, np.inf, -np.inf, float(np.finfo(np.float32).max)])))
        x = x.astype(draw(st.sampled_from([np.float32, np.float64, np.float16, np.uint8])))
    if kind == "huge":
        most = max(2, 2_000_000 // int(np.prod(valid_shape)))  # 100,000 texts, 650 images
        return np.broadcast_to(x[:1] if len(x) else np.zeros((1, *valid_shape), x.dtype),
                               (draw(st.integers(1, most)), *valid_shape))  # read-only, zero strides
    if kind == "strided":
        wide = np.repeat(x, 2, axis=-1)[..., ::2]
        return np.asfortranarray(wide) if draw(st.booleans()) else wide
    if kind == "readonly":
        x.setflags(write=False)
    return x

# ---------------------------------------------------------------- manifests

PATHS = ["../x.tflite", "/etc/passwd", "..\\..\\x", "C:\\x", "a/../../b", "vocab.json", "labels.json",
         "model.fp32.tflite", "model.fp32.onnx", "manifest.json", ".", "", "keras", "x" * 5000, "\x00", "sub/../vocab.json"]
json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(-2**70, 2**70), st.floats(allow_nan=False),
                      st.text(any_char.filter(lambda c: not 0xD800 <= ord(c) <= 0xDFFF), max_size=20),
                      st.sampled_from(PATHS), st.just("é" * 20_000))
json_value = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(max_size=8), inner, max_size=3), max_leaves=8)


def _locations(doc, path=()):
    yield path
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from _locations(value, (*path, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            yield from _locations(value, (*path, i))


@st.composite
def mutated_manifest(draw, good: dict) -> bytes:
    """The bytes of `good` with a few fields replaced, deleted or added; sometimes a duplicated key or cut."""
    doc = json.loads(json.dumps(good))
    for _ in range(draw(st.integers(1, 4))):
        places = list(_locations(doc))[1:]
        focus = [p for p in places if p[0] in ("preprocessing", "files", "labels")]  # where most checks live
        path = draw(st.sampled_from(focus if focus and draw(st.booleans()) else places))
        *parents, last = path or ("task",)
        holder = doc
        for key in parents:
            holder = holder[key]
        action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if action == "delete" and isinstance(holder, dict):
            holder.pop(last, None)
        elif action == "delete" and isinstance(holder, list) and holder:
            holder.pop(min(last, len(holder) - 1))
        elif action == "add" and isinstance(holder.get(last) if isinstance(holder, dict) else None, dict):
            holder[last][draw(st.text(max_size=8))] = draw(json_value)
        else:
            holder[last] = draw(json_value)
    try:  # mostly signed, as write_manifest signs, so the checks after the digest are reached too
        data = rendered(signed(doc)) if draw(st.integers(0, 3)) else json.dumps(doc).encode()
    except ValueError:  # Infinity has no canonical form (and is refused when parsed)
        data = json.dumps(doc).encode()
    tail = draw(st.sampled_from(["", "", "", "dup", "cut", "deep", "bom"]))
    if tail == "dup" and data.startswith(b"{") and len(data) > 2:
        data = b'{"task": 1, ' + data[1:]
    elif tail == "cut":
        data = data[: draw(st.integers(0, len(data)))]
    elif tail == "deep":
        data = b'{"x": ' + b"[" * 40 + b"]" * 40 + b", " + data[1:]
    elif tail == "bom":
        data = b"\xef\xbb\xbf" + data
    return data

# ---------------------------------------------------------------- images

FORMATS = {"JPEG": "jpg", "PNG": "png", "GIF": "gif", "WEBP": "webp", "TIFF": "tif", "BMP": "bmp"}
MODES = ["1", "L", "P", "RGB", "RGBA", "CMYK", "YCbCr", "LAB", "HSV", "I", "F", "LA", "PA", "RGBX", "RGBa", "La",
         "I;16", "I;16B", "I;16L"]


@st.composite
def image_bytes(draw) -> bytes:
    """A file in a common format, any mode, 1×1 up, with EXIF orientation or frames, then maybe damaged."""
    from PIL import Image

    fmt = draw(st.sampled_from(sorted(FORMATS)))
    width, height = draw(st.integers(1, 48)), draw(st.integers(1, 48))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    base = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    mode = draw(st.sampled_from(MODES))
    try:
        image = base.convert(mode)
    except (ValueError, OSError):
        image = base
    options = {}
    if draw(st.booleans()):
        exif = Image.Exif()
        exif[0x0112] = draw(st.integers(0, 9))
        options["exif"] = exif.tobytes()
    if fmt in ("GIF", "WEBP", "PNG", "TIFF") and draw(st.booleans()):
        options.update(save_all=True, append_images=[image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)], duration=10)
    buffer = io.BytesIO()
    try:
        image.save(buffer, fmt, **options)
    except (OSError, ValueError, KeyError, TypeError):
        buffer = io.BytesIO()
        base.save(buffer, fmt)
    data = bytearray(buffer.getvalue())
    damage = draw(st.sampled_from(["none", "none", "truncate", "flip", "flip", "size", "zeros"]))
    if damage == "truncate":
        data = data[: draw(st.integers(0, len(data)))]
    elif damage == "flip":
        for _ in range(draw(st.integers(1, 8))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    elif damage == "zeros":
        start, length = draw(st.integers(0, len(data) - 1)), draw(st.integers(1, 64))
        data[start:start + length] = bytes(len(data[start:start + length]))
    elif damage == "size":
        big = draw(st.sampled_from([0, 1, 2**15, 30_000, 60_000, 65_535, 2**31 - 1]))
        data = _declare_size(bytes(data), fmt, big, draw(st.sampled_from([1, 7, big])))
    return bytes(data)


def _declare_size(data: bytes, fmt: str, width: int, height: int) -> bytes:
    """Patch the dimensions in a file's header (PNG IHDR, GIF screen, BMP info header, JPEG SOF0)."""
    data = bytearray(data)
    try:
        if fmt == "PNG":
            data[16:24] = struct.pack(">II", width, height)
        elif fmt == "GIF":
            data[6:10] = struct.pack("<HH", width & 0xFFFF, height & 0xFFFF)
        elif fmt == "BMP":
            data[18:26] = struct.pack("<ii", min(width, 2**31 - 1), min(height, 2**31 - 1))
        elif fmt == "JPEG":
            sof = data.index(b"\xff\xc0")
            data[sof + 5:sof + 9] = struct.pack(">HH", height & 0xFFFF, width & 0xFFFF)
    except (ValueError, struct.error):
        pass
    return bytes(data)

# ---------------------------------------------------------------- model files


@st.composite
def damaged_model(draw, models: list[bytes]) -> bytes:
    """A model file with bytes changed, cut, inserted or zeroed."""
    data = bytearray(draw(st.sampled_from(models)))
    for _ in range(draw(st.integers(1, 4))):
        how = draw(st.sampled_from(["flip", "flip", "cut", "insert", "zeros", "ff"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if how == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif how == "cut":
            data = data[:at] if draw(st.booleans()) else data[:at] + data[at + draw(st.integers(1, 256)):]
        elif how == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        else:
            data[at:at + 8] = (b"\x00" if how == "zeros" else b"\xff") * len(data[at:at + 8])
    return bytes(data)
