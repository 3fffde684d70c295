"""The user's files `edgeport-run import` reads beside the model: vocabulary, labels, samples. Each is
bounded in size and checked, and a problem is a `UsageError` naming the file and what to fix."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from edgeport.runtime import limits
from edgeport.runtime.errors import UsageError
from edgeport.runtime.golden import sample_count
from edgeport.runtime.manifest import TensorSpec

# `word id`: the word is everything before the last run of spaces or tabs, so a word may be any other character
# (a real Model Maker vocabulary holds U+0085 NEL, which str.split() and str.splitlines() treat as a break).
WORD_ID = re.compile(r"(?P<word>.+?)[ \t]+(?P<id>[0-9]+)[ \t]*")


def file_lines(text: str) -> list[str]:
    """The lines of a text file as the engines' own readers see them: split on `\\n` only (a `\\r` before it
    dropped); never on the other characters `str.splitlines()` breaks at (U+0085, U+2028, \\x0b, \\x1c, ...)."""
    return [line.removesuffix("\r") for line in text.split("\n")]


def read_vocabulary(path: Path) -> dict[str, int]:
    """A JSON object word → id, or lines `word id` (TFLite Model Maker's and the Task Library's format)."""
    text = _read_text(path, limits.MAX_VOCABULARY_BYTES, "vocabulary")
    if path.suffix.lower() == ".json" or text.lstrip().startswith("{"):
        vocab = _parse_json(text, path, "vocabulary")
        if not isinstance(vocab, dict) or not all(type(v) is int for v in vocab.values()):
            raise UsageError(f"the vocabulary file {path} must be a JSON object word → integer id")
    else:
        vocab = {}
        for number, line in enumerate(file_lines(text), 1):
            if not line.strip(" \t"):
                continue
            entry = WORD_ID.fullmatch(line)
            if entry is None:
                raise UsageError(f"{path}, line {number}: expected `word id` (e.g. `<PAD> 0`), got {line!r}")
            if entry["word"] in vocab:
                raise UsageError(f"{path}, line {number}: the word {entry['word']!r} is listed twice")
            vocab[entry["word"]] = int(entry["id"])
    if not vocab:
        raise UsageError(f"the vocabulary file {path} holds no words")
    if min(vocab.values()) < 0 or max(vocab.values()) > 2**31 - 2:
        raise UsageError(f"the vocabulary file {path} holds ids outside 0..{2**31 - 2}")
    return vocab


def read_labels(path: Path, outputs: list[TensorSpec]) -> list[str]:
    """Class names, one a line (trailing blank lines dropped) or a JSON list; as many as the first output has."""
    text = _read_text(path, limits.MAX_MANIFEST_BYTES, "labels")
    if path.suffix.lower() == ".json" or text.lstrip().startswith("["):
        names = _parse_json(text, path, "labels")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise UsageError(f"the labels file {path} must be a JSON list of strings")
    else:
        names = [line.strip(" \t") for line in file_lines(text)]
        while names and not names[-1]:
            names.pop()
    classes = outputs[0].shape[-1] if outputs and outputs[0].shape else None
    expected = 2 if classes == 1 else classes
    if isinstance(expected, int) and len(names) != expected:
        raise UsageError(f"the labels file {path} holds {len(names)} labels, the model's first output has "
                         f"{expected} classes")
    return names


def read_samples(path: Path, inputs: list[TensorSpec]) -> dict[str, np.ndarray]:
    """Model.run feeds from `SAMPLES.npz` (`x`, or `x_<input name>` for each input; `y` is ignored), as
    given, except where every input has the same leading axis (a batch): then its first few items
    (`golden.sample_count`), or as many as a fixed batch size takes."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, io.UnsupportedOperation) as exc:
        raise UsageError(f"cannot read the samples {path} ({type(exc).__name__}: {exc}); pass an .npz file "
                         "with x (or x_<input name> per input)") from None
    arrays.pop("y", None)
    names = [s.name for s in inputs]
    wanted = {"x": names[0]} if len(names) == 1 and "x" in arrays else {f"x_{n}": n for n in names}
    missing = [k for k in wanted if k not in arrays]
    if missing or set(arrays) - set(wanted):
        raise UsageError(f"the samples {path} hold {sorted(arrays)}; the model takes {names}: use "
                         + ("x" if len(names) == 1 else ", ".join(f"x_{n}" for n in names)) + " (and optionally y)")
    feeds = {name: arrays[key] for key, name in wanted.items()}
    if any(x.dtype.kind not in "biuf" for x in feeds.values()):
        raise UsageError(f"the samples {path} must hold numbers, got {[str(x.dtype) for x in feeds.values()]}")
    arrays, leading = list(feeds.values()), {tuple(s.shape[:1]) for s in inputs}
    if (len(leading) == 1 and all(s.shape and feeds[s.name].ndim == len(s.shape) for s in inputs)
            and len({len(x) for x in arrays}) == 1):  # one batch axis shared by every input: a few items
        fixed = next(iter(leading))[0]
        count = sample_count(sum(x[:1].nbytes for x in arrays), len(arrays[0])) if fixed is None else fixed
        feeds = {name: x[:count] for name, x in feeds.items()}
    return feeds


def _read_text(path: Path, limit: int, what: str) -> str:
    """A user's text file (vocabulary, labels), bounded in size, as UTF-8."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise UsageError(f"cannot read the {what} file {path}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise UsageError(f"the {what} file {path} is larger than the {limit:,} bytes allowed")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UsageError(f"the {what} file {path} is not UTF-8 text") from None


def _parse_json(text: str, path: Path, what: str) -> Any:
    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        if len(set(keys)) != len(keys):
            raise ValueError(f"a key is listed twice: {sorted(k for k in keys if keys.count(k) > 1)[0]!r}")
        return dict(pairs)

    try:
        return json.loads(text, object_pairs_hook=no_duplicates)
    except (ValueError, RecursionError) as exc:
        raise UsageError(f"the {what} file {path} is not valid JSON ({exc})") from None
