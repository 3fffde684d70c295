"""`edgeport-run` / `python -m edgeport.runtime`: assembles the subcommands and maps failures to exit codes.
info, predict and pack are here; each tool defines its own arguments and command beside its code: bench
(runtime/bench/cli.py), compat (runtime/compat/probe.py), verify (runtime/cli_verify.py), serve
(runtime/cli_serve.py), import (runtime/cli_import.py), web (runtime/web/cli.py), and keys, publish, pull,
rollback (runtime/fleet/cli.py).

Exit codes (docs/exit-status.md): 0 ok, 1 internal failure, 2 bad input or usage (a bundle path that does not
exist included), 3 a bad model (file, manifest, engine, a bundle `--trusted-root` does not vouch for); `verify`
exits 1 when a variant does not match its golden samples (or the bundle is damaged); the fleet commands' own
codes are in runtime/fleet/cli.py.
Set EDGEPORT_DEBUG=1 to see the traceback of an internal failure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edgeport import runtime
from edgeport.runtime import errors
from edgeport.runtime.manifest import read_manifest
from edgeport.runtime.preprocess import IMAGE_SUFFIXES

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT, EXIT_BAD_MODEL = 0, 1, 2, 3
MODEL_ERRORS = (errors.ModelFileError, errors.ManifestError, errors.EngineMissingError, errors.EngineUnsupportedError,
                errors.TrustError)


def exit_code(exc: BaseException) -> int:
    """The exit status for an exception: 2 bad input, 3 bad model, 1 anything else."""
    if isinstance(exc, (errors.InputError, errors.UsageError)):
        return EXIT_BAD_INPUT
    if isinstance(exc, MODEL_ERRORS):
        return EXIT_BAD_MODEL
    return EXIT_INTERNAL


def _load(args: argparse.Namespace) -> runtime.Model:
    return runtime.load(args.bundle, variant=args.variant, threads=args.threads, backend=args.backend,
                        trusted_root=args.trusted_root)


# ---------------------------------------------------------------- info


def cmd_info(args: argparse.Namespace) -> int:
    bundle = Path(args.bundle)
    manifest = read_manifest(bundle) if bundle.is_dir() else None
    variants = [
        {"variant": a.key, "file": a.file, "size": a.size, "status": a.status, "parity": a.parity}
        for a in (manifest.artifacts if manifest else [])
    ]
    if not args.json and manifest:
        print(f"bundle       {bundle}\ntask         {manifest.task} ({manifest.kind})")
        print(f"labels       {', '.join(manifest.labels) or '-'}")
        reason = f" ({manifest.recommended_reason})" if manifest.recommended_reason else ""
        print(f"recommended  {manifest.recommended or '-'}{reason}")
        print("variants")
        for v in variants:
            print(f"  {v['variant']:<22} {v['status']:<10} {v['size']:>10,} B  {v['file']}")
    model = _load(args)
    info = model.info()
    if info["backend"] == "onnxruntime":  # which u8×s8 kernel the session runs (runtime.cpu)
        from edgeport.runtime.cpu import onnx_int8_kernel

        info["int8_kernel"] = onnx_int8_kernel().describe()
    if args.json:
        info = {k: v for k, v in info.items() if k != "manifest"}
        print(json.dumps({**info, "variants": variants}, indent=2, default=str))
        return EXIT_OK
    print(f"loaded       {info['variant'] or info['file']} on {info['backend']} {info['backend_version']}, "
          f"{info['threads']} threads")
    if info.get("selected_because"):
        print(f"because      {info['selected_because']}")
    if info.get("int8_kernel"):
        print(f"int8 kernel  {info['int8_kernel']}")
    for role in ("inputs", "outputs"):
        for spec in info[role]:
            quantised = f"  scale {spec['scale']:.6g} zero point {spec['zero_point']}" if spec["scale"] else ""
            print(f"{role[:-1]:<12} {spec['name']} {spec['dtype']} {spec['shape']}{quantised}")
    return EXIT_OK


# ---------------------------------------------------------------- predict


def warn_if_a_file(path: Path) -> None:
    """One line on stderr when a text bundle's input names an existing image or binary file: it is classified
    as the words of its path, which is rarely what was meant."""
    try:
        if not path.is_file():
            return
        with path.open("rb") as handle:
            binary = b"\0" in handle.read(4096)
    except OSError:
        return
    if path.suffix.lower() in IMAGE_SUFFIXES or binary:
        what = "an image file" if path.suffix.lower() in IMAGE_SUFFIXES else "a binary file"
        print(f"edgeport-run: warning: {path} is {what}; this text bundle classifies the words of its path, not "
              "the file (pass texts, or a .txt file of one text a line)", file=sys.stderr)


def gather_items(kind: str | None, inputs: Sequence[str]) -> list[tuple[str, Any]]:
    """(name, item) pairs from the command line: texts or .txt files (one item a line) for text
    models, image files or folders (searched recursively, sorted) for image models, .npy batches
    for a bare model file."""
    items: list[tuple[str, Any]] = []
    for arg in inputs:
        path = Path(arg)
        if kind == "text":
            if path.suffix == ".txt" and path.is_file():
                lines = path.read_text(encoding="utf-8").splitlines()
                items += [(f"{path.name}:{n}", line) for n, line in enumerate(lines, 1) if line.strip()]
            else:
                warn_if_a_file(path)
                items.append((arg, arg))
        elif kind == "image":
            if path.is_dir():
                found = sorted(Path(root) / name for root, _, names in os.walk(path) for name in names
                               if name.lower().endswith(IMAGE_SUFFIXES))
                items += [(str(p), p) for p in found]
            elif path.is_file():
                items.append((arg, path))
            else:
                raise errors.ImageError(f"{arg} is neither an image file nor a folder")
        else:
            if path.suffix != ".npy" or not path.is_file():
                what = "a model file without a bundle" if kind is None else "a tensor-only bundle (exported without preprocessing)"
                raise errors.UsageError(f"{arg}: {what} takes .npy tensor batches only; for a model of several inputs "
                                        "call Model.predict_tensor or Model.run from Python")
            try:
                items.append((arg, np.load(path, allow_pickle=False)))
            except ValueError as exc:
                raise errors.DtypeError(f"{arg} is not a numeric .npy array ({exc})") from None
    if not items:
        raise errors.EmptyBatchError("no input items: pass texts, a .txt file, images or a folder of images")
    return items


def cmd_predict(args: argparse.Namespace) -> int:
    model = _load(args)
    info = model.info()
    items = gather_items(info["kind"], args.inputs)
    if info["kind"] in (None, "tensor"):
        results = [{"input": name, "outputs": np.asarray(model.predict_tensor(x)).tolist()} for name, x in items]
        print(json.dumps(results, indent=2) if args.json else "\n".join(f"{r['input']}: {r['outputs']}" for r in results))
        return EXIT_OK
    probabilities = model.predict([item for _, item in items])
    results = []
    for (name, _), row, (label, score) in zip(items, probabilities, model.labels_of(probabilities)):
        by_label = dict(zip(model.labels, [1.0 - float(row[0]), float(row[0])] if row.shape[0] == 1 else row.tolist()))
        results.append({"input": name, "label": label, "score": score, "probabilities": by_label})
    if args.json:
        head = {k: info[k] for k in ("task", "variant", "backend", "backend_version", "threads")}
        print(json.dumps({**head, "results": results}, indent=2))
        return EXIT_OK
    width = min(60, max(len("input"), *(len(r["input"]) for r in results)))
    print(f"{'input':<{width}}  {'label':<16} score")
    for r in results:
        shown = r["input"] if len(r["input"]) <= width else r["input"][: width - 1] + "…"
        print(f"{shown:<{width}}  {r['label']:<16} {r['score']:.4f}")
    print(f"({info['variant']} on {info['backend']} {info['backend_version']}, {info['threads']} threads)", file=sys.stderr)
    return EXIT_OK


# ---------------------------------------------------------------- pack


def cmd_pack(args: argparse.Namespace) -> int:
    from edgeport.runtime.pack import pack_bundle

    keys = [key for group in args.variant or [] for key in group.split(",") if key]
    packed = pack_bundle(args.bundle, args.out, keys or None)
    for path, size in sorted(packed.sizes.items()):
        print(f"{size:>12,} B  {path}")
    variants = ", ".join(a.key for a in packed.manifest.artifacts)
    print(f"device bundle {packed.out}: {variants}, {len(packed.sizes)} files, {packed.total:,} B; "
          "copy this folder to the board")
    return EXIT_OK


def add_pack_parser(commands: Any) -> None:
    pack = commands.add_parser("pack", help="write the device bundle: the chosen variants, vocabulary or labels, "
                               "golden samples and a manifest of its own (no keras/)")
    pack.add_argument("bundle", help="the full bundle directory (with manifest.json)")
    pack.add_argument("--out", required=True, help="the device bundle's folder (new, empty, or a bundle: replaced whole)")
    pack.add_argument("--variant", nargs="+", action="extend", metavar="KEY",
                      help="variants to take, e.g. tflite-int8 onnx-static-int8 (default: the recommended one)")
    pack.set_defaults(func=cmd_pack)


# ---------------------------------------------------------------- entry point


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edgeport-run", description="Run exported edgeport models on this device.")
    commands = parser.add_subparsers(dest="command", required=True)

    def model_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("bundle", help="bundle directory (with manifest.json) or a .tflite/.onnx file")
        p.add_argument("--variant", help="artifact to load, e.g. tflite-int8 (default: the manifest's recommended one)")
        p.add_argument("--threads", type=int, help="engine threads (default: CPUs, at most 4)")
        p.add_argument("--backend", help="force an engine: litert, tflite-runtime, tf-lite, onnxruntime")
        p.add_argument("--json", action="store_true", help="machine-readable output")
        p.add_argument("--trusted-root", metavar="ROOT", help="refuse a bundle no signed fleet metadata names "
                       "(the device's .BUNDLE.fleet/metadata/root.json; see edgeport-run pull)")

    info = commands.add_parser("info", help="describe a bundle and the engine that runs it")
    model_options(info)
    info.set_defaults(func=cmd_info)
    predict = commands.add_parser("predict", help="classify texts or images")
    model_options(predict)
    predict.add_argument("inputs", nargs="+", metavar="INPUT",
                         help="text, .txt file (one item a line), image file or folder; .npy for a bare model")
    predict.set_defaults(func=cmd_predict)
    from edgeport.runtime.bench.cli import add_bench_parser

    add_bench_parser(commands)
    from edgeport.runtime import compat

    matrix = commands.add_parser("compat", help="which variant runs on which engine and machine")
    compat.add_arguments(matrix)
    matrix.set_defaults(func=compat.cmd_compat)
    from edgeport.runtime.cli_import import add_import_parser
    from edgeport.runtime.cli_serve import add_serve_parser
    from edgeport.runtime.cli_verify import add_verify_parser

    add_verify_parser(commands)
    add_serve_parser(commands)
    add_import_parser(commands)
    add_pack_parser(commands)
    from edgeport.runtime.web.cli import add_web_parser

    add_web_parser(commands)
    from edgeport.runtime.fleet.cli import add_fleet_parsers

    add_fleet_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (e.g. `| head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:  # noqa: BLE001 — the one place every failure becomes a message and a code
        code = exit_code(exc)
        kind = "internal error" if code == EXIT_INTERNAL and not isinstance(exc, errors.EdgeportError) else "error"
        print(f"edgeport-run: {kind}: {exc}", file=sys.stderr)
        if code == EXIT_INTERNAL and os.environ.get("EDGEPORT_DEBUG"):
            traceback.print_exc()
        elif code == EXIT_INTERNAL:
            print("edgeport-run: set EDGEPORT_DEBUG=1 to see the traceback", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
