"""Photos for export's checks, stored as the photos themselves: each file's own bytes once (or, where the file
is larger than its decoded pixels, a lossless PNG of those pixels), then per item which photo and whether it
is mirrored. Export decodes them with the runtime's own Pillow code, as training did; the sha256 of every
decoded pixel, in order, is recorded so that export proves it sees exactly the pixels training saw.

Arrays (in an `.npz`): `x_photos` uint8 (the files' bytes, concatenated), `x_offsets` int64 (photo i is
`x_photos[x_offsets[i]:x_offsets[i + 1]]`), `x_index` int64 (the photo of each item), `x_flips` bool.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from edgeport.train.images import NORMALIZATION, ImageFiles

FORMAT = "photos"  # task.json's data.<role>.pixels.stored


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def encode_photos(files: ImageFiles) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays to store for `files`, and task.json's `pixels` entry (how to decode and normalise them)."""
    photos: dict[str, int] = {}
    chunks: list[bytes] = []
    digest = hashlib.sha256()
    for path, flip in zip(files.paths, files.flips):
        digest.update(files.decoded(path, flip).tobytes())  # what training fed the model, before normalisation
        if path not in photos:
            data = Path(path).read_bytes()
            pixels = files.decoded(path)
            photos[path] = len(chunks)
            chunks.append(data if len(data) <= pixels.nbytes else _png(pixels))
    offsets = np.cumsum([0] + [len(c) for c in chunks], dtype=np.int64)
    arrays = {"x_photos": np.frombuffer(b"".join(chunks), dtype=np.uint8), "x_offsets": offsets,
              "x_index": np.asarray([photos[p] for p in files.paths], dtype=np.int64),
              "x_flips": np.asarray(files.flips, dtype=bool)}
    pixels = {"stored": FORMAT, "size": files.size, "interpolation": files.interpolation,
              "normalization": NORMALIZATION, "sha256": digest.hexdigest()}
    return arrays, pixels
