"""uint8 pixels straight into a quantised image input, through one 256-entry table per channel.

Normalisation (e.g. `mobilenet`: x / 127.5 - 1) then quantisation with the input's scale, zero point
and the engine's rounding is a function of one pixel byte: so `q = table[pixel]` gives the very
integers the float path would, without a float tensor. The table is made by running that float path
(the caller's two functions) once on every byte value, then checked on a random batch: where the
normalisation is not a function of each pixel byte alone (or mixes channels other than by reordering
them), there is no table and the float path stays.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from edgeport.runtime.errors import EdgeportError
from edgeport.runtime.manifest import TensorSpec
from edgeport.runtime.quant import is_quantized

Batch = Callable[[np.ndarray], np.ndarray]
CHANNELS = 3
CHUNK = 1 << 14  # values looked up at a time: their index array stays in the cache


class PixelTable:
    """`table[c][pixel[..., source[c]]]` for every output channel c: uint8 (..., 3) → the engine's integers."""

    def __init__(self, table: np.ndarray, sources: tuple[int, ...]):
        self.table, self.sources = table, sources
        self.shared = sources == tuple(range(CHANNELS)) and all(np.array_equal(t, table[0]) for t in table[1:])
        # The table as bytes for `load_pixels` to apply to the decoded image (cheaper than numpy's lookup):
        # one 256-byte map for all channels (`bytes.translate`), or 768 values, 256 per channel (Pillow's
        # `Image.point`); None for a 16-bit input or reordered channels.
        one_byte = table.dtype.itemsize == 1 and sources == tuple(range(CHANNELS))
        self.lut: bytes | list[int] | None = None
        if one_byte:
            self.lut = table[0].view(np.uint8).tobytes() if self.shared else table.view(np.uint8).reshape(-1).tolist()

    @property
    def dtype(self) -> np.dtype:
        return self.table.dtype

    def __call__(self, pixels: np.ndarray) -> np.ndarray:
        if pixels.dtype != np.uint8 or pixels.shape[-1:] != (CHANNELS,):
            raise ValueError(f"a pixel table maps uint8 (..., {CHANNELS}) pixels, got {pixels.dtype} {pixels.shape}")
        out = np.empty(pixels.shape, dtype=self.table.dtype)
        if self.shared:  # one table for all channels: the whole buffer, a cache-sized chunk at a time
            flat, flat_out, table = np.ascontiguousarray(pixels).reshape(-1), out.reshape(-1), self.table[0]
            index = np.empty(min(CHUNK, flat.size), dtype=np.intp)  # reused: no large temporary to fault in
            for start in range(0, flat.size, CHUNK):
                part = index[: min(CHUNK, flat.size - start)]
                np.copyto(part, flat[start:start + CHUNK])
                np.take(table, part, out=flat_out[start:start + part.size])
            return out
        for channel, source in enumerate(self.sources):
            out[..., channel] = np.take(self.table[channel], pixels[..., source])
        return out


def pixel_table(normalized: Batch, to_engine: Batch, probe_seed: int = 0) -> PixelTable | None:
    """The table equal to `to_engine(normalized(pixels))` for uint8 (n, h, w, 3) pixels, or None where
    no table can be (the result is not a function of each channel's byte). `normalized` is the
    preprocessing's uint8 → float step, `to_engine` the model's float → integer step."""
    try:
        return _built(normalized, to_engine, probe_seed)
    except (EdgeportError, ValueError, ArithmeticError):  # e.g. a byte the float path refuses (NaN): it stays
        return None


def _every_byte() -> tuple[np.ndarray, np.ndarray]:
    """(the 256 byte values, a (1, 16, 16, 3) image holding each of them once in every channel)."""
    values = np.arange(256, dtype=np.uint8)
    return values, np.repeat(values.reshape(1, 16, 16, 1), CHANNELS, axis=3)


def _built(normalized: Batch, to_engine: Batch, probe_seed: int) -> PixelTable | None:
    values, ramp = _every_byte()
    table = np.asarray(to_engine(normalized(ramp)))
    if table.dtype.kind not in "iu" or table.shape != ramp.shape:  # a float input: nothing to look up
        return None
    table = np.moveaxis(table, -1, 0).reshape(CHANNELS, 256)
    # Which input channel each output channel reads: each input channel gets its own order of the bytes.
    orders = [(values.astype(np.int64) * (2 * k + 1) + 85 * k) % 256 for k in range(CHANNELS)]
    mixed = np.stack([o.astype(np.uint8).reshape(1, 16, 16) for o in orders], axis=-1)
    got = np.asarray(to_engine(normalized(mixed))).reshape(256, CHANNELS)
    sources = []
    for channel in range(CHANNELS):
        found = [k for k in range(CHANNELS) if np.array_equal(table[channel][orders[k]], got[:, channel])]
        if not found:
            return None
        sources.append(channel if channel in found else found[0])
    lookup = PixelTable(np.ascontiguousarray(table), tuple(sources))
    probe = np.random.default_rng(probe_seed).integers(0, 256, (2, 8, 8, CHANNELS), dtype=np.uint8)
    expected = np.asarray(to_engine(normalized(probe)))
    return lookup if expected.dtype == lookup.dtype and np.array_equal(lookup(probe), expected) else None


class NearestPixels:
    """Normalised float tensors → the uint8 pixels whose normalisation is nearest, channel by channel: what
    a model that takes pixels (its normalisation inside the graph) is fed for a float batch. Exact for a
    tensor the normalisation made from pixels; anything else is rounded to the nearest pixel value, and
    values beyond the pixel range saturate, as quantising them would."""

    def __init__(self, values: np.ndarray):
        self.order = np.argsort(values, axis=1, kind="stable")  # (3, 256): pixel values by normalised value
        ordered = np.take_along_axis(values, self.order, axis=1)
        self.midpoints = (ordered[:, 1:] + ordered[:, :-1]) / 2

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if x.shape[-1:] != (CHANNELS,):
            raise ValueError(f"pixels are (..., {CHANNELS}), got shape {x.shape}")
        out = np.empty(x.shape, np.uint8)
        for channel in range(CHANNELS):
            slot = np.searchsorted(self.midpoints[channel], x[..., channel])
            out[..., channel] = self.order[channel][slot]
        return out


def nearest_pixels(normalized: Batch) -> NearestPixels | None:
    """The inverse of `normalized` (uint8 pixels → float) to the nearest pixel, or None where it is not one
    function per channel of that channel's byte (a normalisation that reorders or mixes channels)."""
    values, ramp = _every_byte()
    table = np.moveaxis(np.asarray(normalized(ramp), np.float64), -1, 0).reshape(CHANNELS, 256)
    mixed = np.stack([np.roll(values, 85 * k).reshape(1, 16, 16) for k in range(CHANNELS)], axis=-1)
    got = np.moveaxis(np.asarray(normalized(mixed), np.float64), -1, 0).reshape(CHANNELS, 256)
    if not all(np.array_equal(table[k][np.roll(values, 85 * k)], got[k]) for k in range(CHANNELS)):
        return None
    if any(len(np.unique(row)) != 256 for row in table):  # two pixel values alike: no inverse
        return None
    return NearestPixels(table)


def takes_pixels(spec: TensorSpec) -> bool:
    """Whether an image model's input takes camera pixels as they are: uint8 with no quantisation parameters,
    (..., 3), its normalisation inside the graph (export's full-integer image files, or a raw-pixel model)."""
    return spec.dtype == "uint8" and not is_quantized(spec) and bool(spec.shape) and spec.shape[-1] == CHANNELS
