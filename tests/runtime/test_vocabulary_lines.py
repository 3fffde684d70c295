"""A `word id` vocabulary is split on `\\n` (and `\\r\\n`) only: every other character Python breaks lines
at may be part of a word, as U+0085 is in a real Model Maker vocabulary."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeport.runtime.errors import UsageError
from edgeport.runtime.import_inputs import file_lines, read_labels, read_vocabulary
from edgeport.runtime.manifest import TensorSpec

# Every character str.splitlines() breaks at, less \n itself (Python's documentation lists them).
LINE_BREAKS = ["\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


def test_every_line_break_character_is_part_of_its_word(tmp_path: Path):
    words = ["<PAD>", "<START>", "<UNKNOWN>"] + [f"a{c}b" for c in LINE_BREAKS] + [c for c in LINE_BREAKS if c != "\r"]
    path = tmp_path / "vocab.txt"
    path.write_bytes("".join(f"{w} {i}\n" for i, w in enumerate(words)).encode("utf-8"))
    assert read_vocabulary(path) == {w: i for i, w in enumerate(words)}


def test_windows_line_ends_and_a_missing_last_newline(tmp_path: Path):
    path = tmp_path / "vocab.txt"
    path.write_bytes(b"<PAD> 0\r\n<START> 1\r\nfilm\xc2\x85 2")
    assert read_vocabulary(path) == {"<PAD>": 0, "<START>": 1, "film\x85": 2}


def test_a_line_without_an_id_names_its_number(tmp_path: Path):
    path = tmp_path / "vocab.txt"
    path.write_bytes("<PAD> 0\nword\x85 5\n\x85\n".encode("utf-8"))
    with pytest.raises(UsageError, match=r"line 3: expected `word id`"):
        read_vocabulary(path)


def test_labels_keep_their_line_break_characters(tmp_path: Path):
    path = tmp_path / "labels.txt"
    path.write_bytes("cat\x85s\r\ndog\u2028s\n\n".encode("utf-8"))
    assert read_labels(path, [TensorSpec("probs", [1, 2], "float32")]) == ["cat\x85s", "dog\u2028s"]


def test_file_lines_splits_on_newline_only():
    assert file_lines("a\x85b\r\nc\u2028\nd") == ["a\x85b", "c\u2028", "d"]
