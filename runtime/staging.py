"""Replace a bundle directory as a whole: build the new one beside it, then swap it in.

`staged_bundle(bundle)` yields a staging directory `.NAME.staging-PID-XXXX` beside the bundle, filled
with hard links to the current bundle's files (those `keep` accepts); the caller writes the new bundle
there. On success the staging directory is swapped with the bundle: on Linux by one
`renameat2(RENAME_EXCHANGE)`, so at every instant the bundle's path names either the complete old
directory or the complete new one; elsewhere by two renames (old → `.NAME.old-PID-XXXX`, staging →
NAME), leaving a window of microseconds in which the path does not exist (`runtime.load` waits it
out). On an exception, or after a kill, the old bundle is untouched; a kill leaves the staging
directory, which the next staged write of the same bundle removes (when its process is gone).

Hard links are safe because every writer in edgeport replaces a file by renaming a new one over it,
never by writing into it.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterator

RENAME_EXCHANGE = 2
AT_FDCWD = -100
STAGING_TAG, OLD_TAG = "staging", "old"


def sibling_prefix(bundle: Path, tag: str) -> str:
    """The name prefix of the staging (`tag="staging"`) or old (`tag="old"`) siblings of `bundle`."""
    return f".{bundle.name}.{tag}-"


def remove_stale(bundle: Path) -> list[Path]:
    """Remove staging and old siblings left by runs that are no longer alive; return what was removed."""
    removed = []
    if not bundle.parent.is_dir():
        return removed
    prefixes = tuple(sibling_prefix(bundle, tag) for tag in (STAGING_TAG, OLD_TAG))
    for entry in bundle.parent.iterdir():
        if not entry.name.startswith(prefixes) or entry.is_symlink() or not entry.is_dir():
            continue
        pid = entry.name.rsplit("-", 2)[-2] if entry.name.count("-") >= 2 else ""
        if pid.isdigit() and int(pid) != os.getpid() and _alive(int(pid)):
            continue  # another run is writing this bundle right now
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _fill(stage: Path, bundle: Path, keep: Callable[[str], bool]) -> None:
    """Hard-link the bundle's files that `keep(relative_posix_path)` accepts into `stage`."""
    for root, dirs, files in os.walk(bundle):
        rel_root = Path(root).relative_to(bundle)
        for name in sorted(dirs):
            path = Path(root) / name
            if path.is_symlink():
                dirs.remove(name)  # a link is not part of the bundle: it is left behind
                continue
            (stage / rel_root / name).mkdir(exist_ok=True)
        for name in files:
            path, rel = Path(root) / name, (rel_root / name).as_posix()
            if path.is_symlink() or not keep(rel):
                continue
            _link_or_copy(str(path), str(stage / rel))


def exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two directories (Linux `renameat2`); False where the system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, f"cannot exchange {a} and {b}: {os.strerror(code)}")


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def swap_in(stage: Path, bundle: Path) -> None:
    """Make `stage` the bundle; the old bundle's directory is removed afterwards."""
    _fsync_dir(stage)
    if not bundle.exists():
        os.rename(stage, bundle)
    elif exchange(stage, bundle):
        _fsync_dir(bundle.parent)
        shutil.rmtree(stage, ignore_errors=True)  # the old bundle, now under the staging name
        return
    else:
        old = Path(tempfile.mkdtemp(prefix=f"{sibling_prefix(bundle, OLD_TAG)}{os.getpid()}-", dir=bundle.parent))
        os.rename(bundle, old / "bundle")
        os.rename(stage, bundle)
        shutil.rmtree(old, ignore_errors=True)
    _fsync_dir(bundle.parent)


@contextlib.contextmanager
def staged_bundle(bundle: str | os.PathLike, keep: Callable[[str], bool] = lambda rel: True) -> Iterator[Path]:
    """Yield a staging directory holding the bundle's kept files; swap it in when the block succeeds."""
    bundle = Path(bundle)
    if bundle.is_symlink():
        bundle = bundle.resolve()  # replace what the link points to, not the link
    bundle.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(bundle)
    stage = Path(tempfile.mkdtemp(prefix=f"{sibling_prefix(bundle, STAGING_TAG)}{os.getpid()}-", dir=bundle.parent))
    try:
        os.chmod(stage, 0o755)
        if bundle.is_dir():
            _fill(stage, bundle, keep)
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    swap_in(stage, bundle)
