"""The command line `python -m edgeport.train.summary` and `python -m edgeport.export.summary` share:
an artifacts folder (default `artifacts`), one block of text per task printed, exit 1 when there is none.

It lives in the runtime because both stages may import the runtime and neither may import the other.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable, Sequence


def run_summary(describe: Callable[[Path], list[str]], *, prog: str, description: str, nothing: str,
                separator: str = "\n", argv: Sequence[str] | None = None) -> int:
    """Parse ARTIFACTS, print `describe(ARTIFACTS)`'s blocks joined by `separator`; 0 when there are any.

    Args:
        describe: the blocks of text for an artifacts folder, one per task found there.
        prog, description: what `--help` shows.
        nothing: printed when there is no block; `{artifacts}` stands for the folder.
        argv: the arguments (default: the command line's).
    Returns:
        0 when anything was found, 1 when not.
    """
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("artifacts", nargs="?", type=Path, default=Path("artifacts"),
                        help="the folder holding one sub-folder per task (default: artifacts)")
    args = parser.parse_args(argv)
    blocks = describe(args.artifacts)
    print(separator.join(blocks) if blocks else nothing.format(artifacts=args.artifacts))
    return 0 if blocks else 1
