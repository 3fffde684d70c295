"""`edgeport-run web BUNDLE --out DIR [--check INPUTS…]`: parse, build, check, print."""

from __future__ import annotations

import argparse
from typing import Any

EXIT_OK, EXIT_PARITY = 0, 1


def default_tolerance(kind: str, variant: str) -> Any:
    """The figures a site must meet against the Python runtime: fp32 texts max |Δp| 1e-4, fp32 images median
    |Δp| 1e-3, other variants median 1e-2; top-1 agreement 99 % for all."""
    from edgeport.runtime.web.check import Tolerance

    if variant.endswith("fp32"):
        return Tolerance(max_abs=1e-4, median_abs=None) if kind == "text" else Tolerance(median_abs=1e-3)
    return Tolerance(median_abs=1e-2)


def cmd_web(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from edgeport.runtime.cli import gather_items
    from edgeport.runtime.web.site import build_site

    site = build_site(args.bundle, args.out, variant=args.variant, offline=args.offline)
    print(f"site         {site.path} ({site.variant} on {site.engine} {site.engine_version})")
    print(f"serve it     python -m http.server -d {site.path}   (or any static file server)")
    if not args.check:
        return EXIT_OK
    from edgeport.runtime.web.check import check_site

    tolerance = default_tolerance(site.doc["kind"], site.variant)
    overrides = {k: v for k, v in (("agreement", args.min_agreement), ("max_abs", args.max_abs),
                                   ("median_abs", args.median_abs)) if v is not None}
    report = check_site(site, args.bundle, gather_items(site.doc["kind"], args.check), replace(tolerance, **overrides),
                        threads=args.threads, isolated=args.isolated)
    print("\n".join(report.lines(site)[1:]))
    return EXIT_OK if report.passed else EXIT_PARITY


def add_web_parser(commands: Any) -> None:
    web = commands.add_parser("web", help="write a bundle as a static site that runs offline in a browser "
                              "(--check: its parity in headless Chromium)")
    web.add_argument("bundle", help="bundle directory (with manifest.json)")
    web.add_argument("--out", required=True, help="the site folder to write (replaced whole if it is a site)")
    web.add_argument("--variant", help="variant to ship, e.g. onnx-static-int8 (default: tflite-fp32 on LiteRT.js, "
                     "the fastest measured, else onnx-fp32 on onnxruntime-web)")
    web.add_argument("--offline", action="store_true", help="take the engine only from the local npm cache")
    web.add_argument("--check", nargs="+", metavar="INPUT", help="texts, .txt files (one a line), images or folders: "
                     "run them through the page in headless Chromium and the Python runtime; exit 1 below tolerance")
    web.add_argument("--threads", type=int, default=1, help="engine threads for --check, in the page and in Python (default 1)")
    web.add_argument("--isolated", action="store_true", help="serve --check's page with COOP/COEP (WebAssembly threads)")
    web.add_argument("--min-agreement", type=float, help="top-1 agreement required (default 0.99)")
    web.add_argument("--max-abs", type=float, help="largest |Δp| allowed (default 1e-4 for fp32 texts)")
    web.add_argument("--median-abs", type=float, help="median |Δp| allowed (default 1e-3 for fp32 images, 1e-2 for others)")
    web.set_defaults(func=cmd_web)
