"""`edgeport-run` / `python -m edgeport.runtime`: parse, call the runtime, print. Subcommands: info, predict, bench,
compat, verify, serve, import, pack, web; keys, publish, pull, rollback (runtime/fleet/cli.py).

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


# ---------------------------------------------------------------- bench


def _integers(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, e.g. 1,2; got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def cmd_bench(args: argparse.Namespace) -> int:
    from edgeport.runtime.bench.runner import BenchOptions, run_bench
    from edgeport.runtime.bench.inputs import read_texts
    from edgeport.runtime.bench.report import render_text, write_report
    from edgeport.runtime.files import atomic_write_bytes

    threads = args.threads or sorted({1, runtime.api.default_threads()})
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
    bench.add_argument("--threads", type=_integers, help="engine thread counts, e.g. 1,2 (default: 1 and the CPUs, at most 4)")
    bench.add_argument("--batch", type=_integers, default=[1, 8], help="batch sizes, e.g. 1,8 (default 1,8)")
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


# ---------------------------------------------------------------- verify

EXIT_NOT_VERIFIED = 1


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


# ---------------------------------------------------------------- serve


def cmd_serve(args: argparse.Namespace) -> int:
    from edgeport.runtime.serve.app import MB, ServeOptions
    from edgeport.runtime.serve.server import run_server

    options = ServeOptions(max_batch=args.max_batch, max_wait_ms=args.max_wait_ms,
                           api_key=args.api_key or os.environ.get("EDGEPORT_API_KEY") or None,
                           max_body_bytes=int(args.max_body_mb * MB), max_items=args.max_items,
                           max_pixels=int(args.max_megapixels * 1e6), max_bodies_bytes=int(args.max_bodies_mb * MB),
                           site=args.site)
    return run_server(args.bundle, variant=args.variant, threads=args.threads, backend=args.backend, host=args.host,
                      port=args.port, options=options, shutdown_timeout=args.shutdown_timeout,
                      log_level=args.log_level, access_log=args.access_log,
                      request_timeout=args.request_timeout, max_connections=args.max_connections,
                      trusted_root=args.trusted_root, reload_s=args.reload_s)


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or value < (1 if kind is int else 0):
            raise argparse.ArgumentTypeError(f"expected a {'positive integer' if kind is int else 'number >= 0'}, "
                                             f"got {text!r}")
        return value
    return parse


def add_serve_parser(commands: Any) -> None:
    serve = commands.add_parser("serve", help="serve a bundle over HTTP (JSON API, metrics, a page to try it)")
    serve.add_argument("bundle", help="bundle directory (with manifest.json)")
    serve.add_argument("--variant", help="artifact to load, e.g. tflite-int8 (default: the manifest's recommended one)")
    serve.add_argument("--threads", type=_positive(int), help="engine threads (default: CPUs, at most 4)")
    serve.add_argument("--backend", help="force an engine: litert, tflite-runtime, tf-lite, onnxruntime")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    serve.add_argument("--max-batch", type=_positive(int), default=32,
                       help="most items per engine call when requests are gathered (default 32; 1: no batching)")
    serve.add_argument("--max-wait-ms", type=_positive(float), default=5.0,
                       help="longest a request waits for others to share its engine call (default 5)")
    serve.add_argument("--api-key", help="require this key (header 'Authorization: Bearer KEY' or 'X-API-Key') "
                       "on /v1/*; default $EDGEPORT_API_KEY, else none")
    serve.add_argument("--max-body-mb", type=_positive(float), default=10.0, help="largest request body (default 10)")
    # Memory and connection bounds, sized for a 1 GB board (docs/serving.md: how to raise them).
    serve.add_argument("--max-items", type=_positive(int), default=1024, help="most items per request (default 1024)")
    serve.add_argument("--max-megapixels", type=_positive(float), default=40.0,
                       help="decoded image pixels in flight across requests, in millions (default 40)")
    serve.add_argument("--max-bodies-mb", type=_positive(float), default=64.0,
                       help="request bodies in flight across requests (default 64)")
    serve.add_argument("--max-connections", type=_positive(int), default=None,
                       help="open connections (default 256, or half the open-file limit when lower)")
    serve.add_argument("--request-timeout", type=_positive(float), default=15.0, metavar="S",
                       help="close a connection that has not sent a whole request within S seconds (default 15)")
    serve.add_argument("--site", metavar="DIR", help="also serve a site from `edgeport-run web` at /web/, cross-origin "
                       "isolated (WebAssembly threads)")
    serve.add_argument("--shutdown-timeout", type=_positive(float), default=10.0, metavar="S",
                       help="on SIGTERM, wait at most S seconds for requests in flight (default 10)")
    serve.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    serve.add_argument("--access-log", action="store_true", help="log every request")
    serve.add_argument("--trusted-root", metavar="ROOT", help="serve only a bundle signed fleet metadata names "
                       "(the device's .BUNDLE.fleet/metadata/root.json)")
    serve.add_argument("--reload-s", type=_positive(float), metavar="S",
                       help="every S seconds, serve the bundle anew when a pull swapped it (no request dropped)")
    serve.set_defaults(func=cmd_serve)


# ---------------------------------------------------------------- import


def cmd_import(args: argparse.Namespace) -> int:
    from edgeport.runtime.importer import ImageOptions, TextOptions, import_model

    text_given = [f for f in ("maxlen", "padding", "truncating", "start_token", "oov_token", "pad_token", "split")
                  if getattr(args, f) is not None] + (["no_lower"] if args.no_lower else [])
    image_given = [f for f in ("image_size", "normalization", "mean", "std", "interpolation")
                   if getattr(args, f) is not None]
    if text_given and args.vocab is None:
        raise errors.UsageError(f"--{text_given[0].replace('_', '-')} is a text option: pass --vocab FILE too")
    text = image = None
    if args.vocab is not None:
        text = TextOptions(args.vocab, args.maxlen, args.padding or "pre", args.truncating or "pre", args.start_token,
                           args.oov_token, args.pad_token, not args.no_lower, args.split or "keras")
    if image_given:
        if text is not None:
            raise errors.UsageError(f"--{image_given[0].replace('_', '-')} is an image option, and --vocab makes this "
                                    "a text model: pass one kind of options")
        image = ImageOptions(tuple(args.image_size) if args.image_size else None, args.normalization,
                             tuple(args.mean) if args.mean else None, tuple(args.std) if args.std else None,
                             args.interpolation or "bilinear")
    manifest = import_model(args.model, args.out, labels=args.labels, text=text, image=image, samples=args.samples,
                            variant=args.variant, task=args.task)
    artifact = manifest.artifacts[0]
    golden = [f.path for f in manifest.files if f.path.startswith("golden/")]
    print(f"bundle       {args.out}")
    print(f"task         {manifest.task} ({manifest.kind})")
    print(f"variant      {artifact.key} ({artifact.size:,} B, sha256 {artifact.sha256[:12]}…)")
    print(f"labels       {', '.join(manifest.labels) if manifest.labels else '- (class indices)'}")
    print(f"golden       {', '.join(golden) or '- (pass --samples to record some)'}")
    return EXIT_OK


def add_import_parser(commands: Any) -> None:
    from edgeport.runtime.importer import NORMALIZATION_CHOICES, SPLIT_RULES
    from edgeport.runtime.preprocess import INTERPOLATIONS

    imp = commands.add_parser("import", help="bundle a .tflite/.onnx model made elsewhere for raw texts or images")
    imp.add_argument("model", help="the .tflite or .onnx file")
    imp.add_argument("--out", required=True, help="the bundle directory to write (replaced whole if it is a bundle)")
    imp.add_argument("--labels", help="class names: one a line, or a JSON list")
    imp.add_argument("--samples", help="SAMPLES.npz (x, or x_<input name> per input): record golden outputs")
    imp.add_argument("--variant", help="variant name (default: int8 when every input and output is quantised, else fp32)")
    imp.add_argument("--task", help="task name in the manifest (default: from the file name)")
    text = imp.add_argument_group("text models")
    text.add_argument("--vocab", help="vocabulary: a JSON object word → id, or `word id` lines (TFLite Model Maker)")
    text.add_argument("--maxlen", type=_positive(int), help="sequence length (default: the model input's)")
    text.add_argument("--padding", choices=["pre", "post"], help="pad short texts before or after (default pre)")
    text.add_argument("--truncating", choices=["pre", "post"], help="cut long texts before or after (default pre)")
    text.add_argument("--start-token", help="token put first, as the vocabulary spells it (e.g. <START>)")
    text.add_argument("--oov-token", help="token for unknown words (e.g. <UNKNOWN>); without it they are left out")
    text.add_argument("--pad-token", help="token to pad with (e.g. <PAD>); without it, id 0")
    text.add_argument("--no-lower", action="store_true", help="keep upper case (default: lower-case texts)")
    text.add_argument("--split", help=f"how texts split into words: {', '.join(SPLIT_RULES)} or regex:PATTERN "
                      "(default keras: Keras' filter characters become spaces; words: TFLite Model Maker's [^\\w']+)")
    image = imp.add_argument_group("image models")
    image.add_argument("--image-size", type=_positive(int), nargs=2, metavar=("H", "W"),
                       help="resize to H×W (default: the model input's)")
    image.add_argument("--normalization", choices=NORMALIZATION_CHOICES,
                       help="pixel scale: mobilenet [-1, 1], unit [0, 1], imagenet-caffe, none (raw 0..255; "
                       "the default for a uint8 input)")
    image.add_argument("--mean", type=float, nargs=3, metavar=("R", "G", "B"), help="(pixel - mean) / std, in 0..255 units")
    image.add_argument("--std", type=float, nargs=3, metavar=("R", "G", "B"))
    image.add_argument("--interpolation", choices=INTERPOLATIONS, help="resize filter (default bilinear)")
    imp.set_defaults(func=cmd_import)


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
    add_bench_parser(commands)
    from edgeport.runtime import compat

    matrix = commands.add_parser("compat", help="which variant runs on which engine and machine")
    compat.add_arguments(matrix)
    matrix.set_defaults(func=compat.cmd_compat)
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
