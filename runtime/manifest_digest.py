"""The manifest's own digest: `manifest_sha256`, the sha256 of the manifest's canonical content.

The canonical content is the parsed document without `manifest_sha256`, as compact JSON with sorted
keys and ASCII escapes (`canonical_bytes`): it covers every field, whichever fields a manifest holds.
`write_manifest` stores it; every read checks it before any field is used, and checks that the file is
spelt exactly as the writer spells it (`rendered`), so that no flipped bit, not even one that JSON reads
the same (`1e-05` → `1E-05`), goes unnoticed.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from edgeport.runtime.errors import ManifestError

DIGEST_FIELD = "manifest_sha256"
REEXPORT = "re-export the bundle (edgeport-export) or re-copy it"


def canonical_bytes(doc: dict[str, Any]) -> bytes:
    """The manifest's content without its digest, in one canonical JSON spelling."""
    content = {k: v for k, v in doc.items() if k != DIGEST_FIELD}
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False).encode("ascii")


def manifest_digest(doc: dict[str, Any]) -> str:
    """sha256 (hex) of `canonical_bytes(doc)`."""
    return hashlib.sha256(canonical_bytes(doc)).hexdigest()


def signed(doc: dict[str, Any]) -> dict[str, Any]:
    """`doc` with its digest set (the digest last, every other field in its order)."""
    out = {k: v for k, v in doc.items() if k != DIGEST_FIELD}
    out[DIGEST_FIELD] = manifest_digest(out)
    return out


def rendered(doc: dict[str, Any]) -> bytes:
    """The bytes `write_manifest` writes for `doc` (indented JSON, ASCII, one final newline)."""
    return (json.dumps(doc, indent=2, ensure_ascii=True, allow_nan=False) + "\n").encode("ascii")


def check_digest(doc: Any, data: bytes, where: str) -> None:
    """Refuse a parsed manifest whose digest is missing, malformed or wrong, or whose bytes `data`
    are not the writer's spelling of it: one line that says what to do."""
    if not isinstance(doc, dict):
        return  # the schema check names this
    if DIGEST_FIELD not in doc:
        raise ManifestError(f"{where} has no {DIGEST_FIELD} (it was written by an older edgeport or edited): "
                            f"{REEXPORT} with this version")
    given = doc[DIGEST_FIELD]
    if not (isinstance(given, str) and len(given) == 64 and all(c in "0123456789abcdef" for c in given)):
        raise ManifestError(f"{where}: {DIGEST_FIELD} is not 64 lowercase hex digits; the manifest is damaged: "
                            f"{REEXPORT}")
    actual = manifest_digest(doc)
    if actual != given:
        raise ManifestError(f"{where}: content does not match its {DIGEST_FIELD} ({actual[:12]}…, recorded "
                            f"{given[:12]}…); the manifest was modified or damaged: {REEXPORT}")
    if rendered(doc) != data:
        raise ManifestError(f"{where} is not spelt as edgeport writes it (reformatted or damaged); {REEXPORT}")
