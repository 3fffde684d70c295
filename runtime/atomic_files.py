"""Files edgeport writes: atomically (whole or not at all, durable once renamed), report sections, plots.

One writer for every stage: a temporary file beside the target, fsynced, renamed over the target,
then the directory fsynced so the rename itself survives a power cut (a Raspberry Pi's SD card).
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator


def fsync_directory(directory: str | os.PathLike) -> None:
    """Make a rename in `directory` durable (a no-op where directories cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on a directory; the rename stands either way
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, *, allow_empty: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `path` (same suffix) for a writer that wants a file name; on
    success fsync it, rename it over `path` and fsync the directory.

    On any exception (or interrupt), or when nothing was written (unless `allow_empty`), the
    temporary file is removed and `path` is left as it was, so a half-written file never appears
    under its real name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if not tmp.is_file() or (tmp.stat().st_size == 0 and not allow_empty):
            raise OSError(f"writing {path.name} produced no data")
        os.chmod(tmp, 0o644)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        fsync_directory(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` atomically and durably (see `atomic_output`); return `path`."""
    path = Path(path)
    with atomic_output(path, allow_empty=True) as tmp:
        tmp.write_bytes(data)
    return path


def splice_section(path: str | os.PathLike, begin: str, end: str, markdown: str, title: str) -> Path:
    """Put `markdown` into the markdown file `path` between the marker lines `begin` and `end`,
    replacing what an earlier run put there and keeping the rest; a file that does not exist yet
    starts with the heading `# {title}`. Written atomically."""
    path = Path(path)
    text = path.read_text(encoding="utf-8") if path.is_file() else f"# {title}\n"
    section = f"{begin}\n{markdown.strip(chr(10))}\n{end}\n"
    if begin in text and end in text.split(begin, 1)[1]:
        head, rest = text.split(begin, 1)
        tail = rest.split(end, 1)[1].lstrip("\n")
        text = head + section + ("\n" + tail if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    return atomic_write_bytes(path, text.encode("utf-8"))


def figure_png(fig: Any, layout: bool = True) -> bytes:
    """A matplotlib figure laid out (unless `layout` is False: the caller placed things after its own
    layout) and rendered as PNG bytes; the figure is closed."""
    from matplotlib import pyplot as plt

    buffer = io.BytesIO()
    try:
        if layout:
            fig.tight_layout()
        fig.savefig(buffer, format="png")
    finally:
        plt.close(fig)
    return buffer.getvalue()
