"""MediaPipe's TextClassifier against edgeport's runtime on raw texts, for every .tflite variant of a text bundle.

    python tools/mediapipe_texts.py BUNDLE TEXTS.csv [--variants KEY ...] [--column text]

Each text of the CSV's column runs through `runtime.load(BUNDLE, variant).predict` (what `edgeport-run predict`
answers) and through TextClassifier on the variant's file as it is; prints top-1 agreement and max |Δp|.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

VARIANTS = ["tflite-fp32", "tflite-fp16", "tflite-dynamic-int8", "tflite-int8"]


def main(argv: list[str] | None = None) -> int:
    from edgeport import runtime
    from edgeport.export.targets.mediapipe_parity import classify_texts, top1

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("texts", type=Path)
    parser.add_argument("--variants", nargs="+", default=VARIANTS)
    parser.add_argument("--column", default="text")
    args = parser.parse_args(argv)
    with args.texts.open(newline="", encoding="utf-8") as handle:
        texts = [row[args.column] for row in csv.DictReader(handle)]
    print(f"{len(texts)} texts from {args.texts.name}; TextClassifier against edgeport's runtime")
    print(f"{'variant':<22}{'top-1 equal':>12}{'max |Δp|':>11}")
    for variant in args.variants:
        model = runtime.load(args.bundle, variant=variant, threads=1)
        ours = model.predict(texts)
        phone = classify_texts(args.bundle / model.artifact.file, texts, ours.shape[-1])
        agreement = float(np.mean(top1(ours) == top1(phone)))
        print(f"{variant:<22}{agreement:>12.2%}{float(np.abs(ours - phone).max()):>11.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
