"""`edgeport-run publish`: add a bundle to a TUF repository in a plain folder (python-tuf's Metadata API).

    REPO/metadata/1.root.json            the root from `edgeport-run keys` (devices fetch N.root.json)
    REPO/metadata/N.targets.json         one target per name: NAME/bundle.tar, with its version and
                                         manifest digest under custom.edgeport, and under `earlier` the
                                         digests and versions published before it (what a rollback runs)
    REPO/metadata/N.snapshot.json        the targets version
    REPO/metadata/timestamp.json         the snapshot version; written last, it makes a publish visible
    REPO/targets/NAME/SHA256.bundle.tar  every version's archive (consistent snapshots: a device that is
                                         half-way through a pull still finds the files it started on)

Each publish signs targets, snapshot and timestamp anew with the online key, each one version up; a
bundle's own version is the last one of its name plus one, so versions only increase. A publish without
a bundle only re-signs (run it daily so timestamps stay fresh). Expiry, counted from each signing:
root 365 days (`keys`), targets 90 days, snapshot 7 days, timestamp 1 day.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterator

from edgeport.runtime.errors import UsageError
from edgeport.runtime.atomic_files import atomic_write_bytes
from edgeport.runtime.fleet.archive import BundleArchive, bundle_archive
from edgeport.runtime.fleet.keys import ONLINE_KEY, ROOT_METADATA, load_signer, now, serializer

METADATA, TARGETS = "metadata", "targets"
ARCHIVE = "bundle.tar"
CUSTOM = "edgeport"  # the key under a target's `custom` that holds its version and manifest digest


@dataclass(frozen=True)
class Expiry:
    """How long each online role's signature is good for, in days."""

    targets: float = 90
    snapshot: float = 7
    timestamp: float = 1


@dataclass(frozen=True)
class Published:
    """What one publish did: the bundle's name and version (None when it only re-signed)."""

    name: str | None
    version: int | None
    manifest_sha256: str | None
    targets_version: int
    unchanged: bool = False  # the same bundle was already the newest version of its name


def target_path(name: str) -> str:
    """The TUF target path devices pull a bundle named `name` by."""
    return f"{name}/{ARCHIVE}"


def publish(bundle: str | os.PathLike | None, repo: str | os.PathLike, keys: str | os.PathLike,
            name: str | None = None, expiry: Expiry = Expiry()) -> Published:  # noqa: B008 — frozen
    """Add `bundle` (None: re-sign only) to the repository folder `repo` with the keys in `keys`.

    Raises:
        UsageError: the key folder lies inside the repository, holds other keys than the
            repository's root names, or the name is unusable.
    """
    from tuf.api.metadata import Metadata, Snapshot, Targets, Timestamp

    repo, keys = Path(repo), Path(keys)
    if repo.resolve() == keys.resolve() or repo.resolve() in keys.resolve().parents:
        raise UsageError(f"the key folder {keys} lies inside the repository {repo}, which is served to everyone: "
                         "keep the keys elsewhere")
    archive = bundle_archive(bundle) if bundle is not None else None
    signer = load_signer(keys / ONLINE_KEY)
    (repo / METADATA).mkdir(parents=True, exist_ok=True)
    with _locked(repo):
        root = _root(repo, keys)
        trusted = {role: set(root.signed.roles[role].keyids) for role in ("targets", "snapshot", "timestamp")}
        if any(signer.public_key.keyid not in ids for ids in trusted.values()):
            raise UsageError(f"{keys / ONLINE_KEY} is not the online key {repo}'s root.json trusts: "
                             "publish with the key folder this repository was made with")
        current = _current(repo)
        fresh = current is None  # a new repository: every role starts at version 1
        targets, snapshot, timestamp = current or (Metadata(Targets()), Metadata(Snapshot()), Metadata(Timestamp()))
        result = _add_bundle(repo, targets.signed, archive, name) if archive is not None else None
        if result is not None and result.unchanged:
            return result
        signed_at, step = now(), 0 if fresh else 1
        targets.signed.version += step
        targets.signed.expires = signed_at + timedelta(days=expiry.targets)
        _sign_and_write(targets, signer, repo / METADATA / f"{targets.signed.version}.targets.json")
        snapshot.signed.version += step
        snapshot.signed.expires = signed_at + timedelta(days=expiry.snapshot)
        snapshot.signed.meta["targets.json"].version = targets.signed.version
        _sign_and_write(snapshot, signer, repo / METADATA / f"{snapshot.signed.version}.snapshot.json")
        timestamp.signed.version += step
        timestamp.signed.expires = signed_at + timedelta(days=expiry.timestamp)
        timestamp.signed.snapshot_meta.version = snapshot.signed.version
        _sign_and_write(timestamp, signer, repo / METADATA / "timestamp.json")
    if result is None:
        return Published(None, None, None, targets.signed.version)
    return Published(result.name, result.version, result.manifest_sha256, targets.signed.version)


def _add_bundle(repo: Path, targets: Any, archive: BundleArchive, name: str | None) -> Published:
    """Write the bundle's archive under its hash and list it in `targets` as the next version of `name`."""
    from tuf.api.metadata import TargetFile

    name = name or archive.task
    if not name or name.startswith(".") or any(c in name for c in "/\\") or name != name.strip():
        raise UsageError(f"--name {name!r}: a bundle's name is one plain folder name (letters, digits, -_.)")
    path = target_path(name)
    previous = targets.targets.get(path)
    last = (previous.custom or {}).get(CUSTOM, {}) if previous is not None else {}
    if last.get("manifest_sha256") == archive.manifest_sha256:
        return Published(name, int(last["version"]), archive.manifest_sha256, targets.version, unchanged=True)
    version = int(last.get("version", 0)) + 1
    target = TargetFile.from_data(path, archive.data, ["sha256"])
    earlier = dict(last.get("earlier", {}))
    if last.get("manifest_sha256"):
        earlier[last["manifest_sha256"]] = int(last["version"])
    target.unrecognized_fields["custom"] = {CUSTOM: {"version": version, "manifest_sha256": archive.manifest_sha256,
                                                     "task": archive.task, "earlier": earlier}}
    stored = repo / TARGETS / name / f"{target.hashes['sha256']}.{ARCHIVE}"
    atomic_write_bytes(stored, archive.data)
    targets.targets[path] = target
    return Published(name, version, archive.manifest_sha256, targets.version)


def _root(repo: Path, keys: Path) -> Any:
    """The repository's newest root; a new repository gets the key folder's root.json as version 1."""
    from tuf.api.metadata import Metadata, Root

    versions = sorted(int(p.name.split(".", 1)[0]) for p in (repo / METADATA).glob("*.root.json")
                      if p.name.split(".", 1)[0].isdigit())
    if versions:
        return Metadata[Root].from_file(str(repo / METADATA / f"{versions[-1]}.root.json"))
    source = keys / ROOT_METADATA
    if not source.is_file():
        raise UsageError(f"no {ROOT_METADATA} in {keys}: make the keys first (edgeport-run keys {keys})")
    data = source.read_bytes()
    root = Metadata[Root].from_bytes(data)
    atomic_write_bytes(repo / METADATA / f"{root.signed.version}.root.json", data)
    return root


def _current(repo: Path) -> tuple[Any, Any, Any] | None:
    """The newest targets, snapshot and timestamp metadata, as timestamp.json names them (None: none yet)."""
    from tuf.api.metadata import Metadata, Snapshot, Targets, Timestamp

    folder = repo / METADATA
    if not (folder / "timestamp.json").is_file():
        return None
    timestamp = Metadata[Timestamp].from_file(str(folder / "timestamp.json"))
    snapshot = Metadata[Snapshot].from_file(str(folder / f"{timestamp.signed.snapshot_meta.version}.snapshot.json"))
    version = snapshot.signed.meta["targets.json"].version
    targets = Metadata[Targets].from_file(str(folder / f"{version}.targets.json"))
    return targets, snapshot, timestamp


def _sign_and_write(metadata: Any, signer: Any, path: Path) -> None:
    metadata.signatures.clear()
    metadata.sign(signer)
    atomic_write_bytes(path, metadata.to_bytes(serializer()))


@contextlib.contextmanager
def _locked(repo: Path) -> Iterator[None]:
    """One publish at a time per repository (an advisory lock beside the metadata)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    with open(repo / ".publish.lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
