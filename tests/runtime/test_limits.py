"""The limits of `runtime.limits`: images sized from their header, text cut before splitting, batches in chunks."""

from __future__ import annotations

import io
import json
import struct
import zlib

import numpy as np
import pytest

from edgeport import runtime
from edgeport.runtime import limits
from edgeport.runtime.errors import ImageError
from edgeport.runtime.preprocess import TextPreprocessor
from tests.runtime.conftest import run_python

Image = pytest.importorskip("PIL.Image")


def one_colour_png(width: int, height: int) -> bytes:
    """A grey PNG of one colour, compressed row by row (never the whole image in memory)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    packer, row, parts = zlib.compressobj(9), b"\x00" + b"\x80" * width, []
    for _ in range(height):
        parts.append(packer.compress(row))
    parts.append(packer.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")


def jpeg_declaring(width: int, height: int) -> bytes:
    """A small JPEG whose frame header (SOF0) is patched to declare `width`×`height`."""
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 30, 30)).save(buffer, "JPEG")
    data = bytearray(buffer.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


PROBE = """
import sys

def peak_mb():  # this process's own high-water mark (ru_maxrss would include the parent's, across exec)
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
from edgeport.runtime.errors import ImageError
from edgeport.runtime.preprocess import load_image
try:
    x = load_image(sys.argv[1], (32, 32), "bilinear")
    print("DECODED", x.shape)
except ImageError as exc:
    print("REFUSED", exc)
print("PEAK_MB", peak_mb())
"""


@pytest.mark.parametrize("name,make", [
    ("huge.png", lambda: one_colour_png(12_000, 12_000)),
    ("declared.jpg", lambda: jpeg_declaring(60_000, 60_000)),
])
def test_image_bombs_are_refused_from_the_header_in_bounded_memory(name, make, tmp_path):
    path = tmp_path / name
    path.write_bytes(make())
    assert path.stat().st_size < 1_000_000
    done = run_python(PROBE, str(path))
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    width = 12_000 if name.endswith("png") else 60_000
    assert "REFUSED" in out and f"{width}×{width}" in out and "40,000,000" in out, out
    assert float(out.split("PEAK_MB")[1]) < 200, out


def test_a_large_jpeg_is_drafted_under_the_limit(tmp_path, monkeypatch):
    buffer = io.BytesIO()
    gradient = np.linspace(0, 255, 1600, dtype=np.float32)
    picture = np.stack([np.tile(gradient, (1200, 1))] * 3, axis=-1).astype(np.uint8)
    Image.fromarray(picture).save(buffer, "JPEG", quality=95)
    (tmp_path / "big.jpg").write_bytes(buffer.getvalue())
    Image.fromarray(picture).save(tmp_path / "big.png")
    monkeypatch.setattr(limits, "MAX_IMAGE_PIXELS", 600_000)  # 1600×1200 = 1.92 M: 1/2 gives 480,000
    from edgeport.runtime.preprocess import load_image

    drafted = load_image(tmp_path / "big.jpg", (12, 16), "bilinear")
    full = np.asarray(Image.open(tmp_path / "big.jpg").convert("RGB").resize((16, 12), Image.BILINEAR), np.float32)
    assert drafted.shape == (12, 16, 3) and np.abs(drafted - full).mean() < 4.0  # the same picture, scaled first
    with pytest.raises(ImageError, match="1600×1200 = 1,920,000 pixels, more than the 600,000"):
        load_image(tmp_path / "big.png", (12, 16), "bilinear")
    monkeypatch.setattr(limits, "MAX_IMAGE_PIXELS", 100_000)  # even 1/8 (200×150 = 30,000)... fits
    assert load_image(tmp_path / "big.jpg", (12, 16)).shape == (12, 16, 3)
    monkeypatch.setattr(limits, "MAX_IMAGE_PIXELS", 20_000)  # 1/8 is 30,000: refused
    with pytest.raises(ImageError, match="more than the 20,000"):
        load_image(tmp_path / "big.jpg", (12, 16))


VOCAB = {"great": 4, "dull": 5, "film": 6, "a": 7, "x" * 300: 8}
SPEC = {"type": "text", "vocabulary": "vocab.json", "num_words": 10, "skip_top": 0, "start_char": 1, "oov_char": 2,
        "index_from": 3, "maxlen": 6, "padding": "pre", "truncating": "pre", "lowercase": True}


def reference(text: str, spec: dict) -> list[int]:
    """Token ids of the whole text, cut only after splitting (the pipeline without the bound)."""
    ids, maxlen = TextPreprocessor(spec, VOCAB).token_ids(text), spec["maxlen"]
    kept = ids[-maxlen:] if spec["truncating"] == "pre" else ids[:maxlen]
    pad = [0] * (maxlen - len(kept))
    return pad + kept if spec["padding"] == "pre" else kept + pad


@pytest.mark.parametrize("truncating", ["pre", "post"])
def test_long_text_is_cut_before_splitting_without_changing_the_ids(truncating):
    spec = {**SPEC, "truncating": truncating, "padding": truncating}
    pre = TextPreprocessor(spec, VOCAB)
    for text in ["great film " * 200_000 + "a dull film", "dull " + "é, " * 400_000 + "great a film",
                 "a" + " " * 3_000_000 + "great", "film\tgreat\n" * 50_000, "GREAT! " * 10 + "ü" * 2_000_000]:
        assert pre(["prefix", text])[1].tolist() == reference(text, spec)
    bound = spec["maxlen"] * limits.MAX_WORD_CHARS
    assert len("great film " * 200_000) > 100 * bound


def test_a_batch_larger_than_the_chunk_gives_the_same_answers(text_binary, monkeypatch):
    model = runtime.load(text_binary, variant="tflite-fp32")
    texts = [f"a great film {i}" if i % 3 else "dull and far too long" for i in range(100)]
    whole = model.predict(texts)
    monkeypatch.setattr(limits, "BATCH_CHUNK", 7)
    seen = []
    real = model.preprocessor
    monkeypatch.setattr(model, "preprocessor", lambda items: seen.append(len(items)) or real(items))
    # the same answers up to float32 summation order: an engine may pick its kernel by batch size (armv7's does)
    np.testing.assert_allclose(model.predict(texts), whole, rtol=0, atol=1e-5)
    assert max(seen) == 7 and sum(seen) == 100
    assert [label for label, _ in model.classify(texts)] == [label for label, _ in model.labels_of(whole)]
    json.dumps(limits.MAX_IMAGE_PIXELS)
