"""JSON a bundle holds (manifest, vocabulary, labels), bounded before it is parsed: size, nesting depth,
then UTF-8, duplicate keys, NaN and Infinity (`runtime.limits` holds the bounds)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from edgeport.runtime import limits
from edgeport.runtime.errors import ManifestError


def read_bounded(path: Path, limit: int, error: type[Exception]) -> bytes:
    """The bytes of `path`, refusing a link or a file larger than `limit` before reading it."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise error(f"cannot read {path}: {exc.strerror}; re-copy the bundle") from None
    with os.fdopen(fd, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > limit:
            raise error(f"{path} is {size:,} bytes, more than the {limit:,} allowed; it is no edgeport bundle file")
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise error(f"{path} is more than the {limit:,} bytes allowed; it is no edgeport bundle file")
    return data


_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_STEP = np.zeros(256, np.int8)
_STEP[[ord("["), ord("{")]], _STEP[[ord("]"), ord("}")]] = 1, -1


def json_depth(data: bytes) -> int:
    """The deepest nesting of arrays and objects in JSON text (brackets inside strings not counted)."""
    if not any(c in data for c in (b"[", b"{")):
        return 0
    bare = _STRING.sub(b"", data) if b'"' in data else data
    return int(np.cumsum(_STEP[np.frombuffer(bare, np.uint8)], dtype=np.int32).max(initial=0))


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    doc = dict(pairs)
    if len(doc) != len(pairs):
        seen: set[str] = set()
        twice = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise ManifestError(f"key {twice!r} appears twice in one object")
    return doc


def parse_json(data: bytes, where: str, limit: int, error: type[Exception] = ManifestError) -> Any:
    """Parse bundle JSON: refuse more than `limit` bytes or `limits.MAX_JSON_DEPTH` levels before
    parsing, then text that is not UTF-8 JSON, duplicate keys, NaN and Infinity."""
    if len(data) > limit:
        raise error(f"{where} is {len(data):,} bytes, more than the {limit:,} allowed; re-export the bundle")
    depth = json_depth(data)
    if depth > limits.MAX_JSON_DEPTH:
        raise error(f"{where} is nested {depth} levels deep, more than the {limits.MAX_JSON_DEPTH} allowed; re-export the bundle")
    try:
        return json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise error(f"{where} is not valid JSON ({exc}); re-export the bundle") from None
    except ManifestError as exc:
        raise error(f"{where}: {exc}; re-export the bundle") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
