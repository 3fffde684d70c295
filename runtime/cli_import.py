"""`edgeport-run import MODEL --out BUNDLE`: parse the text or image options, bundle the file, print what it holds."""

from __future__ import annotations

import argparse
from typing import Any

from edgeport.runtime import errors
from edgeport.runtime.cli_types import positive

EXIT_OK = 0
TEXT_OPTIONS = ("maxlen", "padding", "truncating", "start_token", "oov_token", "pad_token", "split")
IMAGE_OPTIONS = ("image_size", "normalization", "mean", "std", "interpolation")


def cmd_import(args: argparse.Namespace) -> int:
    """Bundle the model with the options given (text or image, not both) and print what the bundle holds."""
    from edgeport.runtime.importer import ImageOptions, TextOptions, import_model

    text_given = [f for f in TEXT_OPTIONS if getattr(args, f) is not None] + (["no_lower"] if args.no_lower else [])
    image_given = [f for f in IMAGE_OPTIONS if getattr(args, f) is not None]
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
    text.add_argument("--maxlen", type=positive(int), help="sequence length (default: the model input's)")
    text.add_argument("--padding", choices=["pre", "post"], help="pad short texts before or after (default pre)")
    text.add_argument("--truncating", choices=["pre", "post"], help="cut long texts before or after (default pre)")
    text.add_argument("--start-token", help="token put first, as the vocabulary spells it (e.g. <START>)")
    text.add_argument("--oov-token", help="token for unknown words (e.g. <UNKNOWN>); without it they are left out")
    text.add_argument("--pad-token", help="token to pad with (e.g. <PAD>); without it, id 0")
    text.add_argument("--no-lower", action="store_true", help="keep upper case (default: lower-case texts)")
    text.add_argument("--split", help=f"how texts split into words: {', '.join(SPLIT_RULES)} or regex:PATTERN "
                      "(default keras: Keras' filter characters become spaces; words: TFLite Model Maker's [^\\w']+)")
    image = imp.add_argument_group("image models")
    image.add_argument("--image-size", type=positive(int), nargs=2, metavar=("H", "W"),
                       help="resize to H×W (default: the model input's)")
    image.add_argument("--normalization", choices=NORMALIZATION_CHOICES,
                       help="pixel scale: mobilenet [-1, 1], unit [0, 1], imagenet-caffe, none (raw 0..255; "
                       "the default for a uint8 input)")
    image.add_argument("--mean", type=float, nargs=3, metavar=("R", "G", "B"), help="(pixel - mean) / std, in 0..255 units")
    image.add_argument("--std", type=float, nargs=3, metavar=("R", "G", "B"))
    image.add_argument("--interpolation", choices=INTERPOLATIONS, help="resize filter (default bilinear)")
    imp.set_defaults(func=cmd_import)
