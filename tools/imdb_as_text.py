"""Rebuild the lecture-size IMDB reviews (`imdb_subset.npz`) as raw text, to train `edgeport-train text` on them.

    python tools/imdb_as_text.py --data-dir /path/to/data OUT_DIR

reads `imdb_subset.npz` (5,000 training and 1,000 test reviews, already cut to a 500-word vocabulary:
ids are rank + 3, 1 starts a review, 2 is a word outside the vocabulary) and `imdb_word_index.json`,
turns each id back into its word (the start mark and the out-of-vocabulary marks are dropped: the text
holds only the 497 most frequent words) and labels each review `negative` or `positive`. It writes, under
OUT_DIR, `imdb_train.csv` and `imdb_test.csv` (columns text,label).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
from pathlib import Path

import numpy as np

INDEX_FROM = 3  # keras.datasets.imdb's default
LABELS = ("negative", "positive")


def reviews(data_dir: Path) -> dict[str, tuple[list[str], list[str]]]:
    """{"train": (texts, labels), "test": (texts, labels)} in the file's order."""
    words = {rank + INDEX_FROM: word for word, rank in json.loads((data_dir / "imdb_word_index.json").read_text()).items()}
    with np.load(data_dir / "imdb_subset.npz", allow_pickle=True) as archive:  # a trusted, read-only file
        splits = {part: (archive[f"x_{part}"], archive[f"y_{part}"]) for part in ("train", "test")}
    return {part: ([" ".join(words[i] for i in x if i in words) for x in xs], [LABELS[int(y)] for y in ys])
            for part, (xs, ys) in splits.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="directory to write into (created)")
    parser.add_argument("--data-dir", type=Path, default=os.environ.get("EDGEPORT_DATA_DIR"),
                        help="directory holding imdb_subset.npz and imdb_word_index.json (default $EDGEPORT_DATA_DIR)")
    args = parser.parse_args(argv)
    if args.data_dir is None:
        parser.error("pass --data-dir DIR or set EDGEPORT_DATA_DIR")
    args.out.mkdir(parents=True, exist_ok=True)
    for part, (texts, labels) in reviews(args.data_dir).items():
        with (args.out / f"imdb_{part}.csv").open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "label"])
            writer.writerows(zip(texts, labels))
        print(f"{part}: {len(texts)} reviews -> {args.out / f'imdb_{part}.csv'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
