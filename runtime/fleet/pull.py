"""`edgeport-run pull` and `rollback`: install the newest signed version of a bundle, or the previous one.

A pull, in order: python-tuf's `Updater` refreshes the signed metadata (root → timestamp → snapshot →
targets, refusing what is unsigned, signed by an untrusted key, older than what the device has seen, or
expired) and downloads the bundle's archive, kept only when its length and sha256 match the signed
ones; the archive is unpacked into a staging folder beside the live bundle; `verify` replays the golden
samples on this device's engine; only then the staging folder is swapped in atomically, and the bundle
that was live is kept for `rollback`. Any failure leaves the live bundle as it was.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from edgeport.runtime.errors import TrustError, UpdateError, UsageError
from edgeport.runtime.fleet import device
from edgeport.runtime.fleet.archive import extract_bundle
from edgeport.runtime.fleet.repository import CUSTOM, METADATA, TARGETS, target_path
from edgeport.runtime.manifest import MANIFEST_NAME
from edgeport.runtime.staging import remove_stale

UPDATED, CURRENT, HELD = "updated", "current", "held"


@dataclass(frozen=True)
class PullResult:
    """What a pull did: `updated` (swapped in), `current` (already live) or `held` (rolled back from)."""

    status: str
    name: str
    version: int
    manifest_sha256: str
    previous_version: int | None = None


def pull(url: str, bundle: str | Path, name: str, root: str | Path | None = None, variant: str | None = None,
         backend: str | None = None) -> PullResult:
    """Install the newest signed version of `name` from the repository at `url` as `bundle`.

    `root` is the root.json to trust, needed only while the device has none of its own. `variant` and
    `backend` narrow the golden-sample check to what this device runs.

    Raises:
        TrustError: the signed metadata or the archive is refused (see the module docstring).
        UpdateError: the download failed, the archive is no bundle, or its golden samples fail here.
        UsageError: no trusted root on the device and none given.
    """
    from tuf.api import exceptions as tuf_errors

    bundle = Path(bundle)
    with _locked(bundle):
        updater = _updater(url, bundle, root)
        try:
            updater.refresh()
            info = updater.get_targetinfo(target_path(name))
        except tuf_errors.RepositoryError as exc:
            raise TrustError(f"the repository's signed metadata is refused ({type(exc).__name__}: {exc}); "
                             "the live bundle is unchanged") from None
        except tuf_errors.DownloadError as exc:
            raise UpdateError(f"cannot fetch the repository's metadata from {url} ({type(exc).__name__}: "
                              f"{str(exc) or 'no answer'}); the live bundle is unchanged") from None
        if info is None:
            raise UpdateError(f"the repository at {url} has no bundle named {name!r}: publish one with "
                              f"edgeport-run publish BUNDLE --name {name}")
        offered = (info.custom or {}).get(CUSTOM, {})
        version, digest = int(offered.get("version", 0)), str(offered.get("manifest_sha256", ""))
        state = device.read_state(bundle)
        live = device.manifest_digest(bundle)
        live_version = state.versions.get(live) if live else None
        if digest == live:
            return PullResult(CURRENT, name, version, digest)
        if digest in state.held:
            return PullResult(HELD, name, version, digest, live_version)
        if live_version is not None and version <= live_version:
            raise TrustError(f"the repository offers {name} version {version}, not newer than the live version "
                             f"{live_version}; published versions only increase: the live bundle is unchanged")
        archive = _download(updater, info, bundle)
        stage = device.new_stage(bundle)
        try:
            extract_bundle(archive, stage)
            if hashlib.sha256((stage / MANIFEST_NAME).read_bytes()).hexdigest() != digest:
                raise TrustError(f"{name} version {version}: its manifest is not the one the signed targets name; "
                                 "the live bundle is unchanged")
            check_golden(stage, f"{name} version {version}", variant, backend)
            state.versions[digest], state.name, state.url = version, name, url
            device.write_state(bundle, state)
            device.install(stage, bundle)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
        archive.unlink(missing_ok=True)
        return PullResult(UPDATED, name, version, digest, live_version)


def rollback(bundle: str | Path) -> PullResult:
    """Swap the previous bundle back in; the version rolled back from is held (not pulled again) until a
    newer one is published.

    Raises:
        UpdateError: there is no previous bundle to go back to.
    """
    bundle = Path(bundle)
    with _locked(bundle):
        previous = device.previous_dir(bundle)
        digest = device.manifest_digest(previous)
        if digest is None:
            raise UpdateError(f"{bundle} has no previous version to roll back to: a pull keeps one once it has "
                              "replaced a bundle")
        state = device.read_state(bundle)
        leaving = device.manifest_digest(bundle)
        stage = device.new_stage(bundle)
        try:
            device.link_tree(previous, stage)
            if leaving and leaving not in state.held:
                state.held.append(leaving)
            state.held = [d for d in state.held if d != digest]
            device.write_state(bundle, state)
            device.install(stage, bundle)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
        return PullResult(UPDATED, state.name or bundle.name, state.versions.get(digest, 0), digest,
                          state.versions.get(leaving) if leaving else None)


def check_golden(stage: Path, what: str, variant: str | None, backend: str | None) -> None:
    """Refuse a staged bundle unless every variant this device runs matches its golden samples (and one does)."""
    from edgeport.runtime import verify

    try:
        checks = verify.verify_bundle(stage, variant=variant, backend=backend)
    except UsageError as exc:
        raise UpdateError(f"{what}: {exc}") from None
    ran = [c for c in checks if c.verdict not in (verify.NOT_CHECKED, verify.CANNOT_RUN)]
    failed = [c for c in ran if not c.passed]
    if failed or not ran:
        why = "; ".join(f"{c.variant} {c.verdict}: {c.detail}" for c in failed) or "no variant runs on this device"
        raise UpdateError(f"{what} fails its golden samples on this device ({why}); the live bundle is unchanged")


def _updater(url: str, bundle: Path, root: str | Path | None) -> Any:
    from tuf.api import exceptions as tuf_errors
    from tuf.ngclient import Updater

    metadata = device.metadata_dir(bundle)
    metadata.mkdir(parents=True, exist_ok=True)
    bootstrap = None
    if not (metadata / "root.json").exists():
        if root is None:
            raise UsageError(f"{bundle} has no trusted root yet: pass --root root.json (from edgeport-run keys) once")
        try:
            bootstrap = Path(root).read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read the root to trust, {root} ({exc.strerror}): pass the root.json "
                             "edgeport-run keys wrote") from None
    base = url.rstrip("/")
    try:
        return Updater(str(metadata), f"{base}/{METADATA}/", str(device.fleet_dir(bundle) / "downloads"),
                       f"{base}/{TARGETS}/", bootstrap=bootstrap)
    except (tuf_errors.RepositoryError, ValueError) as exc:
        raise TrustError(f"the trusted root is not valid root metadata ({exc}): install the root.json "
                         "edgeport-run keys wrote") from None


def _download(updater: Any, info: Any, bundle: Path) -> Path:
    """The verified archive: a cached one whose hash matches, else a fresh download."""
    from tuf.api import exceptions as tuf_errors

    path = device.fleet_dir(bundle) / "downloads" / f"{info.hashes['sha256']}.tar"
    try:
        cached = updater.find_cached_target(info, str(path))
        return Path(cached or updater.download_target(info, str(path)))
    except tuf_errors.RepositoryError as exc:
        path.unlink(missing_ok=True)
        raise TrustError(f"the downloaded bundle does not match its signed length and sha256 ({exc}); "
                         "the live bundle is unchanged") from None
    except tuf_errors.DownloadError as exc:
        path.unlink(missing_ok=True)
        raise UpdateError(f"the download of the bundle failed ({type(exc).__name__}: {str(exc) or 'no answer'}); "
                          "the live bundle is unchanged") from None


@contextlib.contextmanager
def _locked(bundle: Path) -> Iterator[None]:
    """One pull or rollback at a time per bundle; leftovers of a killed one are removed."""
    folder = device.fleet_dir(bundle)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(folder / ".lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            for leftover in folder.glob("previous-*"):
                shutil.rmtree(leftover, ignore_errors=True)
            remove_stale(bundle)
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
