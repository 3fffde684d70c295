"""`python -m edgeport.train.summary ARTIFACTS`: one line per trained task — test accuracy and where the files are."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Sequence

from edgeport.runtime.cli_summary import run_summary


def summary_lines(artifacts: Path) -> list[str]:
    """A line per task under `artifacts` with a `keras/metrics.json`."""
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


def main(argv: Sequence[str] | None = None) -> int:
    return run_summary(summary_lines, prog="python -m edgeport.train.summary",
                       description="One line per trained task: test accuracy and where the files are.",
                       nothing="no trained models under {artifacts}", argv=argv)


if __name__ == "__main__":
    sys.exit(main())
