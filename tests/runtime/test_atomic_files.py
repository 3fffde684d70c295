"""The one atomic writer and the report-section splicer every stage uses."""

from __future__ import annotations

import os
import stat

import pytest

from edgeport.runtime import atomic_files as files


def test_atomic_write_fsyncs_the_file_and_its_directory(tmp_path, monkeypatch):
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        mode = os.fstat(fd).st_mode
        synced.append("dir" if stat.S_ISDIR(mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    target = tmp_path / "sub" / "vocab.json"
    assert files.atomic_write_bytes(target, b'{"a": 4}') == target
    assert target.read_bytes() == b'{"a": 4}' and synced == ["file", "dir"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    files.atomic_write_bytes(target, b"")  # an empty file is a valid write here
    assert target.read_bytes() == b"" and sorted(p.name for p in target.parent.iterdir()) == ["vocab.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "model.keras"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="interrupted"):
        with files.atomic_output(target) as tmp:
            assert tmp.parent == tmp_path and tmp.name.endswith(".keras") and tmp != target
            tmp.write_bytes(b"half")
            raise RuntimeError("interrupted")
    with pytest.raises(OSError, match="produced no data"):
        with files.atomic_output(target):
            pass
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["model.keras"]


def test_splice_section_replaces_its_own_section_and_keeps_the_rest(tmp_path):
    report = tmp_path / "report.md"
    begin, end = "<!-- a:begin -->", "<!-- a:end -->"
    files.splice_section(report, begin, end, "## A\n\nfirst\n", "imdb")
    assert report.read_text() == f"# imdb\n\n{begin}\n## A\n\nfirst\n{end}\n"
    report.write_text(report.read_text() + "\n## Later\n\ntext after\n")
    files.splice_section(report, "<!-- b:begin -->", "<!-- b:end -->", "## B\n", "ignored")
    files.splice_section(report, begin, end, "## A\n\nsecond", "ignored")
    text = report.read_text()
    assert text.startswith(f"# imdb\n\n{begin}\n## A\n\nsecond\n{end}\n\n## Later\n\ntext after\n")
    assert "first" not in text and text.count(begin) == 1 and text.endswith("<!-- b:begin -->\n## B\n<!-- b:end -->\n")
