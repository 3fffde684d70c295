"""A user's labelled texts: a CSV/TSV/JSON Lines file or a folder of class sub-folders of `.txt` files.

Every problem with the input is one `DataError` whose message names the file, the line and what to do.
The vocabulary is learned from the training texts with the device tokeniser itself
(`edgeport.runtime.preprocess.TextPreprocessor.words`): training and runtime split words by one definition.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edgeport.runtime.preprocess import KERAS_FILTERS, TOKENIZERS, TextPreprocessor
from edgeport.train.data import DataError, DataNotFoundError
from edgeport.train.recipes import INDEX_FROM, OOV_CHAR, START_CHAR

DELIMITED = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
JSON_LINES = (".jsonl", ".ndjson")
TEXT_SUFFIX = ".txt"


@dataclass(frozen=True)
class LabelledTexts:
    texts: list[str]
    labels: list[str | int]  # as read: class names (str) or integers
    source: str


@dataclass(frozen=True)
class TextColumns:
    text: str = "text"
    label: str = "label"


# ---------------------------------------------------------------- reading


def read_utf8(path: Path) -> str:
    """The file's text (a UTF-8 byte-order mark is dropped); not UTF-8 → `DataError` naming the line."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataError(f"{path}: line {line} is not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as UTF-8") from None


def read_table_text(path: Path) -> str:
    """`read_utf8` for a CSV, TSV or JSON Lines file; an empty one (nothing but white space) → `DataError`."""
    text = read_utf8(path)
    if not text.strip():
        raise DataError(f"{path}: the file is empty; write a header row (e.g. text,label) and one text with its label "
                        "a line (JSON Lines: one object a line)")
    return text


def _check_text(text: Any, where: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise DataError(f"{where}: the text is empty; remove the line or fill in the text")
    return text


def _check_label(label: Any, where: str) -> str | int:
    if isinstance(label, bool) or label is None or (isinstance(label, str) and not label.strip()):
        raise DataError(f"{where}: the label is empty; every text needs a label (a class name or an integer)")
    if isinstance(label, float) and label.is_integer():
        label = int(label)
    if not isinstance(label, (str, int)):
        raise DataError(f"{where}: the label {label!r} is neither a class name nor an integer")
    return label.strip() if isinstance(label, str) else label


def read_delimited(path: Path, delimiter: str, columns: TextColumns) -> LabelledTexts:
    """CSV or TSV with a header row; quoted fields may hold delimiters and newlines."""
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    reader = csv.DictReader(io.StringIO(read_table_text(path), newline=""), delimiter=delimiter)
    found = reader.fieldnames or []
    missing = [c for c in (columns.text, columns.label) if c not in found]
    if missing:
        raise DataError(
            f"{path}: no column {' or '.join(map(repr, missing))} in the header; the columns found are "
            f"{', '.join(map(repr, found)) or 'none'} (choose with --text-column and --label-column)"
        )
    texts, labels = [], []
    try:
        for row in reader:
            where = f"{path}: line {reader.line_num}"
            texts.append(_check_text(row[columns.text], where))
            labels.append(_check_label(row[columns.label], where))
    except csv.Error as exc:
        raise DataError(f"{path}: line {reader.line_num} is not valid CSV ({exc})") from None
    return LabelledTexts(texts, labels, str(path))


def read_json_lines(path: Path, columns: TextColumns) -> LabelledTexts:
    """One JSON object a line, each with the text and label fields (blank lines are skipped)."""
    texts, labels = [], []
    for number, line in enumerate(read_table_text(path).splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}: line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{where} is not a JSON object ({exc.msg}); write one object a line") from None
        if not isinstance(record, dict):
            raise DataError(f"{where} is not a JSON object; write one object a line")
        missing = [c for c in (columns.text, columns.label) if c not in record]
        if missing:
            raise DataError(
                f"{where}: no field {' or '.join(map(repr, missing))}; the fields found are "
                f"{', '.join(map(repr, record)) or 'none'} (choose with --text-column and --label-column)"
            )
        texts.append(_check_text(record[columns.text], where))
        labels.append(_check_label(record[columns.label], where))
    return LabelledTexts(texts, labels, str(path))


def read_text_folder(root: Path) -> LabelledTexts:
    """Class sub-folders of `.txt` files (`keras.utils.text_dataset_from_directory`'s layout)."""
    class_dirs = sorted((d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")), key=lambda d: d.name)
    texts, labels = [], []
    for d in class_dirs:
        for f in sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() == TEXT_SUFFIX):
            texts.append(_check_text(read_utf8(f), str(f)))
            labels.append(d.name)
    names = sorted(set(labels))
    if len(names) < 2:
        found = f"only the class {names[0]!r}" if names else f"no class sub-folder with {TEXT_SUFFIX} files"
        raise DataError(f"text folder {root} has {found}; a classifier needs at least two sub-folders (one per class) "
                        f"of {TEXT_SUFFIX} files")
    return LabelledTexts(texts, labels, str(root))


def read_texts(path: str | Path, columns: TextColumns = TextColumns()) -> LabelledTexts:
    """Texts and labels from a CSV/TSV/JSON Lines file or a folder of class sub-folders."""
    path = Path(path)
    if path.is_dir():
        return read_text_folder(path)
    if not path.is_file():
        raise DataNotFoundError(f"{path} does not exist; pass a CSV, TSV or JSON Lines file, "
                                "or a folder of class sub-folders of .txt files")
    suffix = path.suffix.lower()
    if suffix in DELIMITED:
        texts = read_delimited(path, DELIMITED[suffix], columns)
    elif suffix in JSON_LINES:
        texts = read_json_lines(path, columns)
    else:
        raise DataError(f"{path}: cannot tell the format from {suffix or 'no suffix'!r}; name it .csv, .tsv or .jsonl, or pass a folder")
    if not texts.texts:
        raise DataError(f"{path} holds no texts; add a row per text under the header")
    return texts


# ---------------------------------------------------------------- labels


def class_names(labels: Sequence[str | int]) -> list[str]:
    """Class names in index order: integers in numeric order, strings sorted as Keras sorts class folders."""
    if all(isinstance(v, int) or (isinstance(v, str) and v.lstrip("-").isdigit()) for v in labels):
        return [str(v) for v in sorted({int(v) for v in labels})]
    return sorted({str(v) for v in labels})


def label_indices(labels: Sequence[str | int], names: Sequence[str], source: str) -> np.ndarray:
    """Each label's class index; a label the training data does not have is a `DataError`."""
    index = {n: i for i, n in enumerate(names)}
    as_int = all(n.lstrip("-").isdigit() for n in names)
    keys = [str(int(v)) if as_int and str(v).lstrip("-").isdigit() else str(v) for v in labels]
    unknown = sorted(set(keys) - set(index))
    if unknown:
        raise DataError(f"{source}: labels {', '.join(map(repr, unknown[:5]))} are not among the training classes "
                        f"{', '.join(map(repr, names))}")
    return np.asarray([index[k] for k in keys], dtype=np.int64)


def check_two_classes(names: Sequence[str], source: str) -> None:
    """A classifier needs at least two classes: a `DataError` names the only one `source` has."""
    if len(names) < 2:
        raise DataError(f"{source} has only the class {names[0]!r}; a classifier needs at least two classes")


def check_stratifiable(y: np.ndarray, names: Sequence[str], source: str) -> None:
    """At least two classes, each with two examples or more: a stratified split can hold one out."""
    counts = np.bincount(y, minlength=len(names))
    check_two_classes(names, source)
    few = [f"{names[i]!r} ({counts[i]})" for i in np.flatnonzero(counts < 2)]
    if few:
        raise DataError(
            f"{source}: class {', '.join(few)} has fewer than two examples, too few to hold one out for the test; "
            "add examples or pass --test PATH"
        )


# ---------------------------------------------------------------- vocabulary and ids


def text_spec(num_words: int, maxlen: int, truncating: str, tokenizer: str = "keras") -> dict[str, Any]:
    """The manifest's text preprocessing: the device tokeniser's rules (`TOKENIZERS[tokenizer]`; "mediapipe"
    cuts at the end whatever `truncating` says) and the reserved ids."""
    return {
        "type": "text", "vocabulary": "vocab.json", "num_words": num_words, "skip_top": 0,
        "start_char": START_CHAR, "oov_char": OOV_CHAR, "index_from": INDEX_FROM, "maxlen": maxlen,
        "padding": "pre", "truncating": truncating, "lowercase": True, "filters": KERAS_FILTERS, "split": " ",
        **TOKENIZERS[tokenizer],
    }


def learn_vocabulary(texts: Sequence[str], num_words: int, spec: dict[str, Any] | None = None) -> dict[str, int]:
    """word → id for the most frequent words (ties: first seen first), ids `rank + INDEX_FROM` below `num_words`:
    0 padding, 1 start, 2 out-of-vocabulary, as in Keras' word-rank datasets. Words are split by `spec`'s
    rule (default Keras'), with the device preprocessor's own `words`."""
    split = TextPreprocessor(spec or text_spec(num_words, 1, "pre"), {}).words
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(split(text))
    ranked = [w for w, _ in counts.most_common(max(0, num_words - INDEX_FROM - 1))]
    return {w: rank + INDEX_FROM for rank, w in enumerate(ranked, 1)}


def non_ascii_share(texts: Sequence[str]) -> float:
    """The share of the texts' letters and digits that are not ASCII: the "mediapipe" rule reads them as spaces."""
    kept = total = 0
    for text in texts:
        for c in text:
            if c.isalnum():
                total += 1
                kept += c.isascii()
    return 1.0 - kept / total if total else 0.0


def encode_texts(texts: Sequence[str], vocabulary: dict[str, int], spec: dict[str, Any]) -> np.ndarray:
    """Texts → int32 ids (n, maxlen) by the device's own preprocessor: start mark, word ids (unknown or
    out-of-range → OOV), cut and padded as `keras.utils.pad_sequences`."""
    return TextPreprocessor(spec, vocabulary)(texts)
