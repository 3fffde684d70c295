"""`edgeport-run bench BUNDLE`: parse, measure every variant, print the table and write the report."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

EXIT_OK = 0


def comma_integers(text: str) -> list[int]:
    """`1,2` → [1, 2]: positive integers, comma-separated."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, e.g. 1,2; got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def cmd_bench(args: argparse.Namespace) -> int:
    """Measure, print the table (or JSON), write --json FILE and the report; 0 once measured."""
    from edgeport.runtime.api import default_threads
    from edgeport.runtime.bench.inputs import read_texts
    from edgeport.runtime.bench.report import render_text, write_report
    from edgeport.runtime.bench.runner import BenchOptions, run_bench
    from edgeport.runtime.atomic_files import atomic_write_bytes

    threads = args.threads or sorted({1, default_threads()})
    variants = [v for group in (args.variants or []) for v in group.split(",") if v]
    options = BenchOptions(variants=variants or None, threads=threads, batches=args.batch, repeats=args.repeats,
                           warmup=args.warmup, min_time_s=args.min_time, cold_start=not args.no_cold_start,
                           keras=not args.no_keras, recommend=args.recommend,
                           texts=read_texts(args.texts) if args.texts else None, images=args.images)
    results = run_bench(args.bundle, options)
    if args.json == "-":
        print(json.dumps(results, indent=2))
    else:
        print(render_text(results))
    if args.json and args.json != "-":
        atomic_write_bytes(Path(args.json), (json.dumps(results, indent=2) + "\n").encode("utf-8"))
    if not args.no_report:
        md, png = write_report(args.bundle, results)
        print(f"\nreport: {md}" + (f", {png}" if png else " (no plot: matplotlib is not installed)"),
              file=sys.stderr if args.json == "-" else sys.stdout)
    return EXIT_OK


def add_bench_parser(commands: Any) -> None:
    bench = commands.add_parser("bench", help="measure every variant of a bundle side by side (--recommend: mark the fastest)")
    bench.add_argument("bundle", help="bundle directory (with manifest.json)")
    bench.add_argument("--variants", nargs="+", metavar="VARIANT", help="variants to measure, e.g. tflite-fp32,tflite-int8 (default: all)")
    bench.add_argument("--threads", type=comma_integers, help="engine thread counts, e.g. 1,2 (default: 1 and the CPUs, at most 4)")
    bench.add_argument("--batch", type=comma_integers, default=[1, 8], help="batch sizes, e.g. 1,8 (default 1,8)")
    bench.add_argument("--repeats", type=int, default=50, help="timed runs per figure, at least (default 50)")
    bench.add_argument("--warmup", type=int, default=5, help="untimed runs first (default 5)")
    bench.add_argument("--min-time", type=float, default=0.2, metavar="S",
                       help="repeat fast calls until S seconds have passed, at most 20,000 times (default 0.2)")
    bench.add_argument("--texts", help="text bundles: a file of texts, one a line (default: synthetic reviews)")
    bench.add_argument("--images", metavar="DIR",
                       help="image bundles: photos for the image-file path (default: synthetic 640x480 JPEGs)")
    bench.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE (- for stdout only)")
    bench.add_argument("--no-cold-start", action="store_true", help="skip the fresh-process cold starts")
    bench.add_argument("--no-keras", action="store_true", help="skip the Keras baseline even where TensorFlow is installed")
    bench.add_argument("--recommend", action="store_true",
                       help="write the fastest variant that passed its checks into the manifest as `recommended` "
                            "(default: the manifest keeps export's choice, the smallest passing file)")
    bench.add_argument("--no-report", action="store_true", help="leave report.md and report_bench.png as they are")
    bench.set_defaults(func=cmd_bench)
