"""`python -m edgeport.train.summary ARTIFACTS`: one line per trained task — test accuracy and where the files are."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def summary_lines(artifacts: Path) -> list[str]:
    lines = []
    for metrics_file in sorted(artifacts.glob("*/keras/metrics.json")):
        m = json.loads(metrics_file.read_text())
        base = m.get("baseline")  # absent from a run trained before baselines were recorded
        versus = f" (always {base['majority_class']!r}: {base['majority_accuracy']:.4f})" if base else ""
        nothing = "  NOT BETTER THAN THE BASELINE" if base and not m.get("better_than_majority") else ""
        lines.append(
            f"{m['task']:<8} test accuracy {m['test_accuracy']:.4f} on {m['test_samples']} samples{versus}{nothing} "
            f"({m['wall_time_s']:.0f} s)  model: {metrics_file.parent / 'model.keras'}  metrics: {metrics_file}"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    artifacts = Path(args[0] if args else "artifacts")
    lines = summary_lines(artifacts)
    print("\n".join(lines) if lines else f"no trained models under {artifacts}")
    return 0 if lines else 1


if __name__ == "__main__":
    sys.exit(main())
