"""`runtime.load(..., trusted_root=...)`: a bundle loads only when signed targets metadata names its manifest.

`trusted_root` is the device's root.json, or the metadata folder that holds it (`pull` keeps both in
`.BUNDLE.fleet/metadata/`); the targets.json beside it is the newest one a pull verified. The targets
signature is checked here against the keys that root trusts, then the sha256 of the manifest's bytes
(which list the size and sha256 of every file the runtime reads) must be one its targets name: the
current version of a name or one published before it (so a rolled-back bundle still loads). Expiry is
not checked at load: a board that has been offline keeps running what it verified; freshness is what
`pull` checks.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from edgeport.runtime.errors import EngineMissingError, TrustError
from edgeport.runtime.fleet.repository import CUSTOM

ROOT, TARGETS = "root.json", "targets.json"


def signed_manifest_digests(trusted_root: str | os.PathLike) -> dict[str, str]:
    """Manifest sha256 → target path, from the targets metadata beside `trusted_root`, signature checked.

    Raises:
        TrustError: the root or targets metadata is missing, invalid, or not signed by the trusted keys.
    """
    try:
        from tuf.api.exceptions import UnsignedMetadataError
        from tuf.api.metadata import Metadata, Root, Targets
    except ImportError:
        raise EngineMissingError("trusted_root needs the fleet extra: pip install 'edgeport[fleet]'") from None
    path = Path(trusted_root)
    folder = path if path.is_dir() else path.parent
    root_path = folder / ROOT if path.is_dir() else path
    try:
        root = Metadata[Root].from_bytes(root_path.read_bytes())
        root.verify_delegate(Root.type, root)
    except OSError as exc:
        raise TrustError(f"cannot read the trusted root {root_path} ({exc.strerror}): install it with "
                         "edgeport-run pull --root root.json") from None
    except (ValueError, UnsignedMetadataError) as exc:
        raise TrustError(f"{root_path} is no valid, self-signed TUF root ({exc})") from None
    try:
        targets = Metadata[Targets].from_bytes((folder / TARGETS).read_bytes())
    except OSError:
        raise TrustError(f"no signed {TARGETS} beside {root_path}: pull the bundle once "
                         "(edgeport-run pull) so the device has verified targets metadata") from None
    except ValueError as exc:
        raise TrustError(f"{folder / TARGETS} is no valid TUF targets metadata ({exc})") from None
    try:
        root.verify_delegate(Targets.type, targets)
    except UnsignedMetadataError as exc:
        raise TrustError(f"{folder / TARGETS} is not signed by a key {root_path} trusts ({exc})") from None
    digests = {}
    for name, target in targets.signed.targets.items():
        about = target.custom.get(CUSTOM) if isinstance(target.custom, dict) else None
        if not isinstance(about, dict):
            continue
        earlier = about.get("earlier") if isinstance(about.get("earlier"), dict) else {}
        for digest in [*earlier, about.get("manifest_sha256")]:
            if isinstance(digest, str):
                digests[digest] = name
    return digests


def check_trusted(manifest_bytes: bytes, trusted_root: str | os.PathLike, where: str) -> str:
    """The target path whose signed manifest digest these manifest bytes have.

    Raises:
        TrustError: no signed target names this manifest (or the metadata itself is refused).
    """
    digest = hashlib.sha256(manifest_bytes).hexdigest()
    digests = signed_manifest_digests(trusted_root)
    if digest not in digests:
        raise TrustError(f"{where}: its manifest (sha256 {digest[:16]}…) is in no signed targets metadata that "
                         f"{trusted_root} vouches for; install bundles with edgeport-run pull, or load without "
                         "trusted_root")
    return digests[digest]
