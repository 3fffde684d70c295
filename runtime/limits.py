"""The runtime's limits, in one place: sized for a Raspberry Pi with 1 GB of memory.

Each can be changed for one process with an environment variable (read when the runtime is imported)
or by assigning the module attribute before loading a model.

- `MAX_IMAGE_PIXELS` (`EDGEPORT_MAX_IMAGE_PIXELS`, default 40 megapixels): the most pixels an image may
  decode to. It is checked from the file's header before any pixel is decoded; a larger JPEG is decoded
  in draft mode (scaled by 1/2, 1/4 or 1/8 while decoding) when that brings it under, any other image
  above it is refused with an `ImageError` naming its size and the limit. 40 megapixels decode to
  120 MB of RGB.
- `JPEG_DRAFT` (`EDGEPORT_JPEG_DRAFT`, default on; `0` turns it off): a JPEG at least four times the
  model's input size each way is decoded at 1/2, 1/4 or 1/8 of its size, the largest reduction that
  still leaves twice the model's size, then resized as before: a 12-megapixel photo decodes several
  times faster in a sixteenth of the memory, its model-ready pixels within a few grey levels of the full
  decode. Off, every JPEG within `MAX_IMAGE_PIXELS` is decoded at full size, pixel for pixel as
  `keras.utils.load_img` decodes it.
- `MAX_IMAGE_FILE_BYTES` (`EDGEPORT_MAX_IMAGE_FILE_BYTES`, default 64 MB): the largest image file read
  from a path; only regular files are read (never a device such as `/dev/zero`, a FIFO or a socket).
- `MAX_WORD_CHARS` (default 256): a text longer than `maxlen × MAX_WORD_CHARS` characters is cut to
  that many on the side the tokeniser keeps before it is split, when the part holds more than `maxlen`
  words (else a part 4× as long is tried, and so on): the model sees only `maxlen` words, so the ids
  are exactly those of the whole text, while a megabyte-long text is never split word by word.
- `BATCH_CHUNK` (`EDGEPORT_BATCH_CHUNK`, default 256): raw items are preprocessed and run this many at a
  time, so memory does not grow with the batch; the results are concatenated.
- `MAX_MANIFEST_BYTES` (16 MB) and `MAX_JSON_DEPTH` (32): a manifest (or vocabulary, labels file) larger
  or nested deeper is refused before it is parsed. `MAX_VOCABULARY_BYTES` (64 MB) bounds `vocab.json`.
"""

from __future__ import annotations

import os


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        return default
    return number if number > 0 else default


MAX_IMAGE_PIXELS: int = _env_int("EDGEPORT_MAX_IMAGE_PIXELS", 40_000_000)
JPEG_DRAFT: bool = os.environ.get("EDGEPORT_JPEG_DRAFT", "1").strip().lower() not in ("0", "false", "no", "off")
MAX_IMAGE_FILE_BYTES: int = _env_int("EDGEPORT_MAX_IMAGE_FILE_BYTES", 64 * 1024 * 1024)
MAX_WORD_CHARS: int = 256
BATCH_CHUNK: int = _env_int("EDGEPORT_BATCH_CHUNK", 256)
MAX_MANIFEST_BYTES: int = 16 * 1024 * 1024
MAX_VOCABULARY_BYTES: int = 64 * 1024 * 1024
MAX_JSON_DEPTH: int = 32
