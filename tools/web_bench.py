"""Per-item model time of a bundle's variants in headless Chromium, beside the Python runtime's, same machine.

    .venv/bin/python tools/web_bench.py artifacts/pets --inputs ../shared/data/pets \
        --variants tflite-fp32,onnx-fp32,onnx-static-int8 --threads 1,2 [--json FILE]

Each variant is built as a site (`edgeport-run web`) and checked through the page (`--check`): its top-1
agreement and |Δp| against the Python runtime, and the median model time per item in the page (threads above
1 are served cross-origin isolated: WebAssembly threads need COOP/COEP) and in Python on as many threads.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from edgeport.runtime.cli import gather_items
from edgeport.runtime.web.check import Tolerance, check_site
from edgeport.runtime.web.site import build_site


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle")
    parser.add_argument("--inputs", nargs="+", required=True, help="texts, .txt files, images or folders")
    parser.add_argument("--variants", default="tflite-fp32,onnx-fp32", help="comma-separated (default tflite-fp32,onnx-fp32)")
    parser.add_argument("--threads", default="1", help="comma-separated thread counts (default 1)")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N inputs (default all)")
    parser.add_argument("--json", help="also write the rows as JSON")
    args = parser.parse_args(argv)
    rows = []
    print(f"{'variant':<18} {'engine':<22} {'threads':>7} {'page ms':>8} {'python ms':>9} {'ratio':>6} {'top-1':>7} "
          f"{'max|Δp|':>9} {'med|Δp|':>9}")
    with tempfile.TemporaryDirectory(prefix="edgeport-web-bench-") as tmp:
        for variant in filter(None, args.variants.split(",")):
            site = build_site(args.bundle, Path(tmp) / variant, variant=variant)
            items = gather_items(site.doc["kind"], args.inputs)
            items = items[: args.limit] if args.limit else items
            for threads in (int(t) for t in args.threads.split(",")):
                r = check_site(site, args.bundle, items, Tolerance(agreement=0.0, median_abs=None), threads=threads,
                               isolated=threads > 1)
                row = {"variant": variant, "engine": f"{site.engine} {site.engine_version}", "threads": r.page_threads,
                       "isolated": r.isolated, "items": r.items, "page_ms": r.page_ms, "python_ms": r.python_ms,
                       "agreement": r.agreement, "max_abs": r.max_abs, "median_abs": r.median_abs}
                rows.append(row)
                print(f"{variant:<18} {row['engine']:<22} {r.page_threads:>7} {r.page_ms:>8.2f} {r.python_ms:>9.2f} "
                      f"{r.page_ms / r.python_ms:>6.2f} {r.agreement:>7.4f} {r.max_abs:>9.2g} {r.median_abs:>9.2g}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
