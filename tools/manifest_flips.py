"""Single-bit flips of real manifests: every one must be refused with a typed error.

    python tools/manifest_flips.py BUNDLE [BUNDLE ...] [--flips 10000] [--seed 26] [--load]

Flips one random bit of `manifest.json` at a time and reads the result: with `manifest_from_bytes`
(the runtime's reader), or with `--load` through `runtime.load` on a copy of the bundle (slower). A flip
that loads is a failure, and so is any exception other than an `EdgeportError`. Prints the counts per
error type and exits 1 when any flip got through.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

from edgeport import runtime
from edgeport.runtime.errors import EdgeportError
from edgeport.runtime.manifest import manifest_from_bytes


def flipped(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/manifest_flips.py", description=__doc__.split("\n")[0])
    parser.add_argument("bundles", nargs="+", type=Path)
    parser.add_argument("--flips", type=int, default=10_000, help="flips per bundle (default 10000)")
    parser.add_argument("--seed", type=int, default=26)
    parser.add_argument("--load", action="store_true", help="load each flipped bundle with runtime.load")
    args = parser.parse_args(argv)
    failures = 0
    for bundle in args.bundles:
        data = (bundle / "manifest.json").read_bytes()
        rng, outcomes, through = random.Random(args.seed), Counter(), []
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / bundle.name
            if args.load:
                shutil.copytree(bundle, copy)
            for _ in range(args.flips):
                bit = rng.randrange(len(data) * 8)
                damaged = flipped(data, bit)
                try:
                    if args.load:
                        (copy / "manifest.json").write_bytes(damaged)
                        runtime.load(copy)
                    else:
                        manifest_from_bytes(damaged)
                except EdgeportError as exc:
                    outcomes[type(exc).__name__] += 1
                except Exception as exc:  # noqa: BLE001 — an untyped error is a finding
                    outcomes[f"untyped {type(exc).__name__}"] += 1
                    through.append((bit, repr(exc)[:100]))
                else:
                    outcomes["loaded"] += 1
                    through.append((bit, "loaded"))
        failures += len(through)
        print(f"{bundle}: {args.flips:,} flips of {len(data):,} bytes: "
              + ", ".join(f"{k} {v:,}" for k, v in outcomes.most_common()))
        for bit, what in through[:10]:
            print(f"    bit {bit} (byte {bit // 8}): {what}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
