"""Accuracy of `edgeport-run predict --json` output against a file of labels, one a line.

    edgeport-run predict BUNDLE texts.txt --variant tflite-fp32 --json > predictions.json
    python tools/score_predictions.py predictions.json labels.txt
"""

from __future__ import annotations

import json
import sys


def main(argv: list[str] | None = None) -> int:
    predictions_file, labels_file = (sys.argv[1:] if argv is None else argv)[:2]
    results = json.loads(open(predictions_file, encoding="utf-8").read())["results"]
    labels = open(labels_file, encoding="utf-8").read().splitlines()
    if len(results) != len(labels):
        print(f"{len(results)} predictions but {len(labels)} labels", file=sys.stderr)
        return 2
    right = sum(r["label"] == y for r, y in zip(results, labels))
    print(f"accuracy {right / len(labels):.4f} ({right} of {len(labels)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
