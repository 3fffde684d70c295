"""Reading a bundle's files as `runtime.load` does: no symbolic link anywhere in the bundle, each listed
file read once through one handle on the bundle's directory, its size and sha256 checked on exactly
the bytes returned."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from edgeport.runtime import limits
from edgeport.runtime.backends.onnx_external import external_tensors
from edgeport.runtime.errors import ManifestError, ModelFileError
from edgeport.runtime.manifest import (
    MANIFEST_NAME, Artifact, Manifest, manifest_from_bytes, resolve_bundle_path, safe_relative_path,
)

MAX_BUNDLE_ENTRIES = 100_000


def refuse_links(bundle_dir: str | os.PathLike) -> None:
    """Raise `ManifestError` when anything inside the bundle is a symbolic link, whatever it points to."""
    pending, seen = [Path(bundle_dir)], 0
    while pending:
        try:
            entries = list(os.scandir(pending.pop()))
        except OSError as exc:
            raise ManifestError(f"cannot list {exc.filename}: {exc.strerror}; re-copy the bundle") from None
        for entry in entries:
            seen += 1
            if entry.is_symlink():
                raise ManifestError(f"{entry.path} is a symbolic link; a bundle holds plain files only, "
                                    "whatever a link points to: replace it with the file (re-copy the bundle)")
            if entry.is_dir(follow_symlinks=False):
                pending.append(Path(entry.path))
        if seen > MAX_BUNDLE_ENTRIES:
            raise ManifestError(f"{bundle_dir} holds more than {MAX_BUNDLE_ENTRIES:,} entries; it is no edgeport bundle")


class BundleFiles:
    """Reads a bundle's listed files through one open handle on its directory, so that every file of
    one load comes from the same directory even when a re-export swaps a new bundle in meanwhile.
    Each file is read once; size and sha256 are checked on exactly the bytes returned."""

    def __init__(self, bundle_dir: str | os.PathLike):
        self.root = Path(bundle_dir)
        self._fd: int | None = None
        if os.open in os.supports_dir_fd:
            try:
                self._fd = os.open(self.root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
            except OSError as exc:
                raise ManifestError(f"cannot open the bundle directory {self.root}: {exc.strerror}") from None

    def __enter__(self) -> "BundleFiles":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def swapped(self) -> bool:
        """Whether the bundle's path names another directory than the one this reader opened."""
        if self._fd is None:
            return False
        try:
            here, opened = os.stat(self.root), os.fstat(self._fd)
        except OSError:
            return True
        return (here.st_dev, here.st_ino) != (opened.st_dev, opened.st_ino)

    def manifest(self) -> Manifest:
        return manifest_from_bytes(self.manifest_bytes(), str(self.root / MANIFEST_NAME))

    def manifest_bytes(self) -> bytes:
        """The bytes of manifest.json (bounded by `limits.MAX_MANIFEST_BYTES`), unparsed."""
        return self._read(MANIFEST_NAME, limits.MAX_MANIFEST_BYTES, MANIFEST_NAME, ManifestError, missing=(
            f"no {MANIFEST_NAME} in {self.root}: export the model first (edgeport-export)"))

    def artifact(self, artifact: Artifact) -> bytes:
        """The verified bytes of a model file."""
        return self.verified(artifact.file, artifact.size, artifact.sha256, artifact.key, ModelFileError, "model file")

    def listed(self, manifest: Manifest, relative: str, where: str) -> bytes:
        """The verified bytes of a file the manifest lists in `files`; an unlisted file is refused unread."""
        entry = manifest.file_entry(safe_relative_path(relative, where))
        if entry is None:
            raise ManifestError(f"{where}: {relative!r} is not listed with its size and sha256 in the manifest's files; "
                                "re-export the bundle with this version of edgeport")
        return self.verified(entry.path, entry.size, entry.sha256, where, ModelFileError, "file")

    def verified(self, relative: str, size: int, sha256: str, where: str, error: type[Exception], what: str) -> bytes:
        name = safe_relative_path(relative, where)
        data = self._read(name, size, where, error, missing=f"{where}: {what} {name} is missing; re-export the bundle")
        if len(data) != size:
            raise error(f"{where}: {name} is {len(data) if len(data) <= size else 'more than ' + str(size)} bytes, "
                        f"the manifest says {size}; the file is truncated or was replaced: re-export or re-copy the bundle")
        digest = hashlib.sha256(data).hexdigest()
        if digest != sha256:
            raise error(f"{where}: sha256 of {name} is {digest[:12]}…, the manifest says {sha256[:12]}…; "
                        "the file is corrupt or was modified: re-export or re-copy the bundle")
        return data

    def _read(self, relative: str, limit: int, where: str, error: type[Exception], missing: str) -> bytes:
        """At most `limit + 1` bytes of a plain file inside the bundle (no link, no device, no directory)."""
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        try:
            if self._fd is not None:
                fd = os.open(relative, flags, dir_fd=self._fd)
            else:
                fd = os.open(resolve_bundle_path(self.root, relative, where), flags)
        except FileNotFoundError:
            raise error(missing) from None
        except OSError as exc:
            raise error(f"{where}: cannot read {relative} ({exc.strerror}): a bundle holds plain files only; "
                        "re-copy the bundle") from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise error(f"{where}: {relative} is not a plain file; re-export or re-copy the bundle")
            chunks, left = [], limit + 1
            while left > 0:
                chunk = os.read(fd, min(left, 1 << 24))
                if not chunk:
                    break
                chunks.append(chunk)
                left -= len(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)


def external_data(files: BundleFiles, manifest: Manifest, artifact: Artifact, data: bytes) -> dict[str, bytes]:
    """The external data files an ONNX model names, by location, as verified bytes. Each must be listed in
    the manifest's `files` (so it lies inside the bundle and is hash-checked); an unlisted one is refused
    unread. The engine takes the bytes from memory and never opens a file itself."""
    found: dict[str, bytes] = {}
    for tensor in external_tensors(data, artifact.key):
        if tensor.location not in found:
            found[tensor.location] = files.listed(manifest, tensor.location,
                                                  f"{artifact.key}: external data of tensor {tensor.name!r}")
    return found
