"""A text bundle's vocabulary (`vocab.json`): a JSON object word → final token id, read within its size limit."""

from __future__ import annotations

from pathlib import Path

from edgeport.runtime import limits
from edgeport.runtime.bounded_json import parse_json, read_bounded
from edgeport.runtime.errors import ManifestError


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
