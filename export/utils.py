"""Helpers shared by the format modules: atomic file output, silencing converter chatter, and naming
which graph nodes belong to a Keras layer."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path
from typing import Iterator

from edgeport.runtime.manifest import atomic_write_bytes

__all__ = ["atomic_output", "atomic_write_bytes", "layer_matches", "quiet"]


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success fsync it and rename it over `path`.

    On any exception (or interrupt) the temporary file is removed and `path` is left as it was,
    so a half-written model never appears under its real name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if not tmp.is_file() or tmp.stat().st_size == 0:
            raise OSError(f"writing {path.name} produced no data")
        os.chmod(tmp, 0o644)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def quiet(enabled: bool = True) -> Iterator[None]:
    """Silence stdout/stderr at the file-descriptor level (TensorFlow's C++ logs and converter prints).

    Exceptions still propagate with their messages; only the chatter is dropped.
    """
    if not enabled:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(os.devnull, "w") as devnull:
        try:
            os.dup2(devnull.fileno(), 1)
            os.dup2(devnull.fileno(), 2)
            with contextlib.redirect_stdout(devnull), contextlib.redirect_stderr(devnull):
                yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def layer_matches(name: str, layers: tuple[str, ...]) -> bool:
    """Whether the graph name `name` (`model/conv_pw_13_1/convolution`, `...;model/conv_pw_13_relu_1/Relu6`)
    belongs to one of the Keras `layers` (whole names: `conv_pw_1` does not match `conv_pw_13`)."""
    return any(f"/{layer}_" in name or f"/{layer}/" in name for layer in layers)
