"""`edgeport-run verify BUNDLE`: parse, check each variant against its golden samples, print a line a variant.

Exits 0 only when every checked variant matches; 1 when any differs, is damaged, cannot run here or has
no golden samples, or the manifest itself cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from edgeport.runtime import errors

EXIT_OK, EXIT_NOT_VERIFIED = 0, 1


def cmd_verify(args: argparse.Namespace) -> int:
    """A line per variant, a summary; 0 only when every checked variant matches its golden samples,
    1 when any differs, is damaged, cannot run here or has none, 2 for usage errors."""
    from edgeport.runtime import verify

    try:
        checks = verify.verify_bundle(args.bundle, variant=args.variant, backend=args.backend)
    except (errors.ManifestError, errors.ModelFileError) as exc:  # the manifest itself: nothing to check
        print(f"edgeport-run: error: {exc}", file=sys.stderr)
        return EXIT_NOT_VERIFIED
    passed = verify.all_match(checks)
    if args.json:
        print(json.dumps({"bundle": str(args.bundle), "passed": passed, "summary": verify.summary(checks),
                          "variants": [c.to_dict() for c in checks]}, indent=2))
        return EXIT_OK if passed else EXIT_NOT_VERIFIED
    width = max(len("variant"), *(len(c.variant) for c in checks))
    for c in checks:
        figures = f"max |Δ| {c.max_abs_diff:.2g} vs atol {c.atol:.2g}" if c.max_abs_diff is not None else ""
        engine = f"{c.engine} {c.engine_version}" if c.engine else ""
        print(f"{c.variant:<{width}}  {c.verdict:<17}  {figures:<32}  {engine}".rstrip())
        if c.detail:
            print(f"{'':<{width}}  {c.detail}")
    print(verify.summary(checks))
    return EXIT_OK if passed else EXIT_NOT_VERIFIED


def add_verify_parser(commands: Any) -> None:
    check = commands.add_parser("verify", help="run each variant's golden samples on this device's engine and "
                                "compare with the workstation's outputs")
    check.add_argument("bundle", help="bundle directory (with manifest.json and golden/)")
    check.add_argument("--variant", help="check only this variant, e.g. tflite-int8 (default: all)")
    check.add_argument("--backend", help="force an engine: litert, tflite-runtime, tf-lite, onnxruntime "
                       "(variants of the other format are not checked)")
    check.add_argument("--json", action="store_true", help="machine-readable output")
    check.set_defaults(func=cmd_verify)
