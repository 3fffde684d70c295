"""`edgeport-export BUNDLE_OR_MODEL` (or `MODEL --samples S.npz --out DIR`): parse arguments, export, print a
line per variant and the summary table."""

from __future__ import annotations

import os

# Set before TensorFlow's first import: gRPC's lines stay off the terminal (TensorFlow's own start-up lines:
# `edgeport.export` filters them, runtime/native_stderr.py). A value the user set is kept.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

import argparse
import sys
from typing import Sequence

from edgeport.export.calibrate import DEFAULT_SAMPLES
from edgeport.export.variants import FORMATS, VARIANTS


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="edgeport-export",
        description="Export a trained Keras bundle, or any Keras model with --samples, to TFLite and ONNX variants, "
                    "each checked against Keras through the runtime.",
    )
    parser.add_argument("source", metavar="BUNDLE_OR_MODEL",
                        help="bundle directory (artifacts/TASK) or its keras/model.keras; with --samples any .keras file "
                        "or SavedModel directory")
    own = parser.add_argument_group("any Keras model (needs --samples and --out)")
    own.add_argument("--samples", metavar="SAMPLES.npz", help="model-ready inputs x (x_<input name> for each of several) "
                     "and optionally y (class indices); a seeded quarter calibrates, the rest checks parity")
    own.add_argument("--out", metavar="DIR", help="the bundle directory to write")
    own.add_argument("--preprocessing", metavar="SPEC.json", help="preprocessing in the manifest's format (default: none, "
                     "the bundle takes tensors only)")
    own.add_argument("--vocab", metavar="FILE", help="the vocabulary file the preprocessing spec names (copied in)")
    own.add_argument("--like", metavar="BUNDLE", help="copy another bundle's kind, preprocessing, labels and vocabulary")
    own.add_argument("--labels", metavar="FILE", help="class names: one per line, or a JSON list")
    own.add_argument("--name", help="the bundle's task name (default: the model file's name)")
    parser.add_argument("--formats", type=_csv, default=list(FORMATS), help=f"comma-separated, from {','.join(FORMATS)} (default: all)")
    parser.add_argument("--variants", type=_csv, help="comma-separated keys or names, e.g. tflite-int8,fp16 (default: all); "
                        f"known: {','.join(v.key for v in VARIANTS)}")
    parser.add_argument("--calibration-samples", type=int, default=DEFAULT_SAMPLES, metavar="N",
                        help=f"training samples (from the bundle's keras/calibration.npz) used to calibrate int8 variants "
                        f"(default {DEFAULT_SAMPLES}); with --samples, the most of them set apart to calibrate (a quarter)")
    parser.add_argument("--allow-failures", action="store_true", help="exit 0 even when a variant misses its tolerance")
    parser.add_argument("--no-latency", action="store_true", help="skip the single-sample latency measurement")
    parser.add_argument("--verbose", action="store_true",
                        help="print the traceback of each variant whose conversion raised (report.md has the whole message)")
    args = parser.parse_args(argv)
    given = [f"--{k}" for k in ("out", "preprocessing", "vocab", "like", "labels", "name") if getattr(args, k) is not None]
    if args.samples is None and given:
        parser.error(f"{', '.join(given)} export a model of your own: pass --samples SAMPLES.npz too")
    if args.samples is not None and args.out is None:
        parser.error("--samples exports a model of your own: pass --out DIR for its bundle")
    if args.calibration_samples < 1:
        parser.error(f"--calibration-samples must be at least 1, got {args.calibration_samples}")
    return args


def progress_line(index: int, total: int, outcome, verbose: bool = False) -> str:
    """`[3/7] tflite-dynamic-int8  passed  24,120 B  acc 0.6590 (+0.00 pt)  agree 99.90%  max|Δp| 5.5e-03  1.2 s`.

    A failed conversion shows the first line of its error (the whole message is in report.md), and
    with `verbose` the traceback below it."""
    head = f"[{index}/{total}] {outcome.variant.key:<20}"
    if outcome.error:
        first, _, more = outcome.error.partition("\n")
        line = f"{head} FAILED  {first}{' […]' if more.strip() else ''}  ({outcome.seconds:.1f} s)"
        if verbose and outcome.traceback:
            line += "\n" + "\n".join(f"      {text}" for text in outcome.traceback.rstrip("\n").splitlines())
        return line
    p = outcome.artifact.parity
    accuracy = ("no labels" if p.get("accuracy") is None else
                f"acc {p['accuracy']:.4f} ({p['accuracy_delta_points']:+.2f} pt)")
    values = [o for o in p.get("outputs", []) if o.get("kind") == "values"]
    measured = [f"agree {100 * p['class_agreement']:.2f}%  max|Δp| {p['max_abs_diff']:.1e}"] if p.get("class_agreement") is not None else []
    measured += [f"{o['name']} max|Δ| {100 * o['relative_diff']:.2g}% of range" for o in values]
    line = (f"{head} {outcome.artifact.status.upper() if not outcome.passed else 'passed':<7} {outcome.artifact.size:>11,} B  "
            f"{accuracy}  {'  '.join(measured)}  ({outcome.seconds:.1f} s)")
    return line + "".join(f"\n      {failure}" for failure in p.get("failures", []))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from edgeport.export.variants import select_variants

    try:
        select_variants(args.formats, args.variants)
    except ValueError as exc:
        print(f"edgeport-export: {exc}", file=sys.stderr)
        return 2
    from edgeport.export.bundle import export_bundle
    from edgeport.export.job import ExportOptions
    from edgeport.export.report import markdown_table
    from edgeport.runtime.errors import EdgeportError

    def report(index: int, total: int, outcome) -> None:
        print(progress_line(index, total, outcome, args.verbose), flush=True)

    try:
        options = ExportOptions(args.formats, args.variants, args.calibration_samples, not args.no_latency, report)
        if args.samples is None:
            result = export_bundle(args.source, options)
        else:
            from edgeport.export.own import ModelDescription, export_model

            about = ModelDescription(args.preprocessing, args.vocab, args.like, args.labels, args.name)
            result = export_model(args.source, args.samples, args.out, about, options)
    except EdgeportError as exc:
        print(f"edgeport-export: {exc}", file=sys.stderr)
        return 2
    print()
    print(f"{result.manifest.task}: {result.bundle_dir}")
    print(markdown_table(result.rows))
    if result.manifest.recommended:
        print(f"\nrecommended: {result.manifest.recommended} ({result.manifest.recommended_reason})")
    if result.learned_nothing:  # the bundle is kept, and marked so in report.md and report.png
        print(f"\n{result.manifest.task}: {result.learned_nothing}")
    if result.failed:
        verdict = "allowed by --allow-failures" if args.allow_failures else "exit status 1"
        raised = not args.verbose and any(o.traceback for o in result.outcomes)
        hint = "; --verbose prints where the conversion failed" if raised else ""
        print(f"\n{len(result.failed)} variant(s) failed: {', '.join(result.failed)} ({verdict}); "
              f"see {result.bundle_dir / 'report.md'}{hint}")
        return 0 if args.allow_failures else 1
    print(f"\nall {len(result.outcomes)} variants passed; manifest: {result.bundle_dir / 'manifest.json'}")
    return 0
