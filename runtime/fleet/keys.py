"""`edgeport-run keys KEY_DIR`: the fleet's two ed25519 keys and the root metadata devices trust.

    KEY_DIR/root.key     the offline root key (PEM, 0600): signs root.json only; keep it off the network
    KEY_DIR/online.key   the online key (PEM, 0600): signs targets, snapshot and timestamp at each publish
    KEY_DIR/root.json    root metadata version 1, signed by the root key: install it on every device once

The private keys never go into a repository folder: `publish` refuses a key folder inside its repository.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from edgeport.runtime.errors import UsageError
from edgeport.runtime.atomic_files import atomic_write_bytes

ROOT_KEY, ONLINE_KEY, ROOT_METADATA = "root.key", "online.key", "root.json"
ONLINE_ROLES = ("targets", "snapshot", "timestamp")
ROOT_DAYS = 365  # root.json's expiry: re-sign it with the root key (a new `keys` folder) within a year


@dataclass(frozen=True)
class FleetKeys:
    """The paths `generate_keys` wrote."""

    root_key: Path
    online_key: Path
    root_metadata: Path


def now() -> datetime:
    """UTC now, to the second (TUF's expiry dates carry no fractions)."""
    return datetime.now(timezone.utc).replace(microsecond=0)


def _write_private(path: Path, data: bytes) -> None:
    """Write a private key readable by its owner only (0600 from the first byte)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(path, 0o600)


def generate_keys(key_dir: str | os.PathLike, root_days: float = ROOT_DAYS) -> FleetKeys:
    """Generate the root and online ed25519 keys into `key_dir` and write the signed root.json.

    Raises:
        UsageError: `key_dir` already holds fleet keys (they are never overwritten).
    """
    from securesystemslib.signer import CryptoSigner
    from tuf.api.metadata import Metadata, Root

    folder = Path(key_dir)
    paths = FleetKeys(folder / ROOT_KEY, folder / ONLINE_KEY, folder / ROOT_METADATA)
    existing = [p.name for p in (paths.root_key, paths.online_key, paths.root_metadata) if p.exists()]
    if existing:
        raise UsageError(f"{folder} already holds {', '.join(existing)}: fleet keys are never overwritten; "
                         "pick a new folder (devices trust the root.json made with the old ones)")
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    root_signer, online_signer = CryptoSigner.generate_ed25519(), CryptoSigner.generate_ed25519()
    root = Metadata(Root(expires=now() + timedelta(days=root_days), consistent_snapshot=True))
    root.signed.add_key(root_signer.public_key, "root")
    for role in ONLINE_ROLES:
        root.signed.add_key(online_signer.public_key, role)
    root.sign(root_signer)
    _write_private(paths.root_key, root_signer.private_bytes)
    _write_private(paths.online_key, online_signer.private_bytes)
    atomic_write_bytes(paths.root_metadata, root.to_bytes(serializer()))
    return paths


def load_signer(path: Path) -> object:
    """A securesystemslib signer for the PEM private key at `path`.

    Raises:
        UsageError: the file is missing, readable by others, or no ed25519 private key.
    """
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    from securesystemslib.signer import CryptoSigner

    if not path.is_file():
        raise UsageError(f"no {path.name} in {path.parent}: make the keys first (edgeport-run keys {path.parent})")
    if path.stat().st_mode & 0o077:
        raise UsageError(f"{path} is readable by others (mode {path.stat().st_mode & 0o777:o}): chmod 600 it")
    try:
        return CryptoSigner(load_pem_private_key(path.read_bytes(), password=None))
    except (ValueError, TypeError) as exc:
        raise UsageError(f"{path} is not an unencrypted PEM ed25519 private key ({exc})") from None


def serializer() -> object:
    """The JSON serializer every fleet metadata file is written with (indented, for people to read)."""
    from tuf.api.serialization.json import JSONSerializer

    return JSONSerializer(compact=False)
