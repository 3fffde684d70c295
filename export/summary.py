"""`python -m edgeport.export.summary ARTIFACTS`: each exported bundle's report table, read from its manifest."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

from edgeport.export.report import Row, markdown_table
from edgeport.runtime.cli_summary import run_summary
from edgeport.runtime.errors import ManifestError
from edgeport.runtime.manifest import MANIFEST_NAME, read_manifest


def summary(artifacts: Path) -> list[str]:
    """A heading and the table per bundle under `artifacts` that has a manifest."""
    blocks = []
    for manifest_file in sorted(artifacts.glob(f"*/{MANIFEST_NAME}")):
        try:
            manifest = read_manifest(manifest_file.parent)
        except ManifestError as exc:
            blocks.append(f"== {manifest_file.parent.name}: {exc}")
            continue
        failed = [a.key for a in manifest.artifacts if a.status != "passed"]
        verdict = f"{len(failed)} failed: {', '.join(failed)}" if failed else f"all {len(manifest.artifacts)} passed"
        rows = [Row(a.format, a.variant, a) for a in manifest.artifacts]
        blocks.append(f"== {manifest.task} ({verdict}; report: {manifest_file.parent / 'report.md'})\n{markdown_table(rows)}")
    return blocks


def main(argv: Sequence[str] | None = None) -> int:
    return run_summary(summary, prog="python -m edgeport.export.summary",
                       description="Each exported bundle's report table, read from its manifest.",
                       nothing="no exported bundles under {artifacts}; run edgeport-export first", separator="\n\n", argv=argv)


if __name__ == "__main__":
    sys.exit(main())
