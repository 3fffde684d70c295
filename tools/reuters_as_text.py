"""Rebuild the Reuters newswires of `reuters.npz` as raw text, to train `edgeport-train text` on real text.

    python tools/reuters_as_text.py --data-dir /path/to/data OUT_DIR

reads `reuters.npz` and `reuters_word_index.json`, splits them as `keras.datasets.reuters.load_data()` does
(shuffle with seed 113, the last 20% for the test: 8,982 / 2,246 newswires), turns each word rank back into
its word (every word is there; punctuation and case are gone) and labels each newswire with its topic's
name (`keras.datasets.reuters.get_label_names()`). It writes, under OUT_DIR:

    reuters_train.csv, reuters_test.csv        columns text,label
    reuters_test.txt                           the test texts, one a line (for `edgeport-run predict`)
    reuters_test_labels.txt                    their topic names, one a line
    folder/train/<topic>/<n>.txt, folder/test/<topic>/<n>.txt
"""

from __future__ import annotations

import argparse
import csv
import json
import os
from pathlib import Path

import numpy as np

SEED, TEST_SPLIT = 113, 0.2  # keras.datasets.reuters.load_data's defaults
# keras.datasets.reuters.get_label_names(), in topic-index order
TOPICS = (
    "cocoa", "grain", "veg-oil", "earn", "acq", "wheat", "copper", "housing", "money-supply", "coffee", "sugar",
    "trade", "reserves", "ship", "cotton", "carcass", "crude", "nat-gas", "cpi", "money-fx", "interest", "gnp",
    "meal-feed", "alum", "oilseed", "gold", "tin", "strategic-metal", "livestock", "retail", "ipi", "iron-steel",
    "rubber", "heat", "jobs", "lei", "bop", "zinc", "orange", "pet-chem", "dlr", "gas", "silver", "wpi", "hog", "lead",
)


def newswires(data_dir: Path) -> tuple[list[str], list[str], list[str], list[str]]:
    """(train texts, train topics, test texts, test topics) in Keras' order."""
    with np.load(data_dir / "reuters.npz", allow_pickle=True) as archive:  # a trusted, read-only file
        xs, ys = archive["x"], archive["y"]
    order = np.arange(len(xs))
    np.random.RandomState(SEED).shuffle(order)
    xs, ys = xs[order], ys[order]
    words = {rank: word for word, rank in json.loads((data_dir / "reuters_word_index.json").read_text()).items()}
    texts = [" ".join(words[r] for r in x if r in words) for x in xs]
    topics = [TOPICS[int(y)] for y in ys]
    n = int(len(xs) * (1 - TEST_SPLIT))
    return texts[:n], topics[:n], texts[n:], topics[n:]


def write_csv(path: Path, texts: list[str], labels: list[str]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(zip(texts, labels))


def write_folder(root: Path, texts: list[str], labels: list[str]) -> None:
    for i, (text, label) in enumerate(zip(texts, labels)):
        (root / label).mkdir(parents=True, exist_ok=True)
        (root / label / f"{i:05d}.txt").write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="directory to write into (created)")
    parser.add_argument("--data-dir", type=Path, default=os.environ.get("EDGEPORT_DATA_DIR"),
                        help="directory holding reuters.npz and reuters_word_index.json (default $EDGEPORT_DATA_DIR)")
    args = parser.parse_args(argv)
    if args.data_dir is None:
        parser.error("pass --data-dir DIR or set EDGEPORT_DATA_DIR")
    train_texts, train_topics, test_texts, test_topics = newswires(args.data_dir)
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / "reuters_train.csv", train_texts, train_topics)
    write_csv(args.out / "reuters_test.csv", test_texts, test_topics)
    (args.out / "reuters_test.txt").write_text("".join(t + "\n" for t in test_texts), encoding="utf-8")
    (args.out / "reuters_test_labels.txt").write_text("".join(t + "\n" for t in test_topics), encoding="utf-8")
    write_folder(args.out / "folder" / "train", train_texts, train_topics)
    write_folder(args.out / "folder" / "test", test_texts, test_topics)
    print(f"{len(train_texts)} training and {len(test_texts)} test newswires, {len(set(train_topics))} topics -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
