"""A few hundred real labelled sentences: the sentences of licence texts, each labelled by its licence.

    python tools/licence_sentences.py OUT.csv GPL-3 Apache-2.0 MPL-2.0 LGPL-2.1 [--dir /usr/share/common-licenses]
    python tools/licence_sentences.py OUT.csv --shuffle-labels ...   # the same texts, labels permuted (seeded)

Each named file (Debian's `/usr/share/common-licenses` by default) is cut into sentences (at `.`, `;`
or `:` followed by white space, and at blank lines); white space is collapsed, sentences of fewer than
four words are dropped, and a sentence found in more than one of the files (or twice in one) is
dropped everywhere, so that the label can only be told from the words. `--max-per-class N` keeps a
seeded sample of N per licence. The CSV has the columns text,label (the file name), in the files' order.
"""

from __future__ import annotations

import argparse
import csv
import re
from collections import Counter
from pathlib import Path

import numpy as np

SENTENCE_END = re.compile(r"(?<=[.;:])\s+|\n\s*\n")
MIN_WORDS = 4


def sentences(text: str) -> list[str]:
    """`text` cut into sentences of at least `MIN_WORDS` words, white space collapsed."""
    parts = (" ".join(p.split()) for p in SENTENCE_END.split(text))
    return [p for p in parts if len(p.split()) >= MIN_WORDS]


def labelled_sentences(files: list[Path], max_per_class: int | None, seed: int) -> list[tuple[str, str]]:
    """(sentence, file name) for every sentence that occurs exactly once across `files`."""
    per_file = {f.name: sentences(f.read_text(encoding="utf-8", errors="replace")) for f in files}
    counts = Counter(s.lower() for found in per_file.values() for s in found)
    rows = []
    rng = np.random.RandomState(seed)
    for name, found in per_file.items():
        unique = [s for s in found if counts[s.lower()] == 1]
        if max_per_class is not None and len(unique) > max_per_class:
            unique = [unique[i] for i in sorted(rng.choice(len(unique), max_per_class, replace=False))]
        rows += [(s, name) for s in unique]
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("licences", nargs="+", help="file names under --dir")
    parser.add_argument("--dir", type=Path, default=Path("/usr/share/common-licenses"))
    parser.add_argument("--max-per-class", type=int)
    parser.add_argument("--shuffle-labels", action="store_true", help="permute the labels (a set with nothing to learn)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rows = labelled_sentences([args.dir / name for name in args.licences], args.max_per_class, args.seed)
    if args.shuffle_labels:
        labels = [label for _, label in rows]
        permuted = [labels[i] for i in np.random.RandomState(args.seed + 1).permutation(len(labels))]
        rows = [(text, label) for (text, _), label in zip(rows, permuted)]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    counts = Counter(label for _, label in rows)
    print(f"{args.out}: {len(rows)} sentences; " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
