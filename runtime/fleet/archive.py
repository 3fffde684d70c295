"""A bundle as one archive: exactly the files a device reads, in a plain tar, and back.

`bundle_archive(bundle)` verifies every file the manifest lists (as `runtime.load` does) and packs
manifest.json plus those files, sorted, with fixed owners, modes and times: the same bundle always
gives the same bytes. Workstation files the manifest does not list (keras/, report.md) stay behind.
`extract_bundle(archive, folder)` unpacks one into an empty folder and refuses anything but plain
files under safe relative paths; the archive itself was verified by TUF before it gets here.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

from edgeport.runtime.bundle_reader import BundleFiles, refuse_links
from edgeport.runtime.errors import ManifestError, UpdateError, UsageError
from edgeport.runtime.manifest import MANIFEST_NAME, safe_relative_path

MAX_MEMBERS = 10_000


@dataclass(frozen=True)
class BundleArchive:
    """A packed bundle and what identifies it."""

    data: bytes
    task: str
    manifest_sha256: str


def bundle_archive(bundle: str | os.PathLike) -> BundleArchive:
    """Pack the bundle's manifest and every file it lists, each checked against its size and sha256."""
    root = Path(bundle)
    if not (root / MANIFEST_NAME).is_file():
        raise UsageError(f"{root} is not a bundle folder (no {MANIFEST_NAME} there): publish the folder "
                         "edgeport-export (or edgeport-run import) wrote")
    refuse_links(root)
    with BundleFiles(root) as files:
        manifest_bytes = files.manifest_bytes()
        manifest = files.manifest()
        members = {MANIFEST_NAME: manifest_bytes}
        for artifact in manifest.artifacts:
            members[artifact.file] = files.artifact(artifact)
        for entry in manifest.files:
            members[entry.path] = files.listed(manifest, entry.path, f"manifest.files: {entry.path}")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(members):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(members[name]), 0o644, 0
            tar.addfile(info, io.BytesIO(members[name]))
    return BundleArchive(buffer.getvalue(), manifest.task, hashlib.sha256(manifest_bytes).hexdigest())


def extract_bundle(archive: str | os.PathLike, folder: str | os.PathLike) -> None:
    """Unpack `archive` into `folder` (plain files only, no path leaving it, no name twice).

    Raises:
        UpdateError: the archive is unreadable or holds something that is no bundle file.
    """
    target = Path(folder)
    seen: set[str] = set()
    try:
        with tarfile.open(archive, mode="r:") as tar:
            for count, member in enumerate(tar, 1):
                name = _member_name(member, seen, count)
                path = target / name
                path.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                with open(path, "xb") as out:
                    while chunk := source.read(1 << 20):
                        out.write(chunk)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise UpdateError(f"the downloaded bundle cannot be unpacked ({exc}); publish it again") from None
    if MANIFEST_NAME not in seen:
        raise UpdateError(f"the downloaded bundle holds no {MANIFEST_NAME}: publish a bundle folder edgeport-export wrote")


def _member_name(member: tarfile.TarInfo, seen: set[str], count: int) -> str:
    if count > MAX_MEMBERS:
        raise UpdateError(f"the downloaded bundle holds more than {MAX_MEMBERS:,} files; it is no edgeport bundle")
    if not member.isfile():
        raise UpdateError(f"the downloaded bundle holds {member.name!r}, which is no plain file; publish it again")
    try:
        name = safe_relative_path(member.name, "the downloaded bundle")
    except ManifestError as exc:  # the update's fault, not a bundle's on this device
        raise UpdateError(str(exc)) from None
    name = Path(name).as_posix()
    if name in seen:
        raise UpdateError(f"the downloaded bundle holds {name!r} twice; publish it again")
    seen.add(name)
    return name
