"""`edgeport-train TASK`: parse arguments, train, print one summary line."""

from __future__ import annotations

import os

# Set before TensorFlow's first import: gRPC's lines in a multi-worker run stay off the terminal (TensorFlow's
# own start-up lines: `edgeport.train` filters them, runtime/native_stderr.py). A value the user set is kept.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

import argparse
import sys
from pathlib import Path

from edgeport.train.data import DataError, DataNotFoundError
from edgeport.train.preflight import check_inputs
from edgeport.train.recipes import RECIPES, USER_DATA_TASKS, ImageRecipe
from edgeport.train.texts import TextColumns


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="edgeport-train",
        description="Train a Keras model on your own texts (text) or images (image), or on the lecture's datasets.",
    )
    parser.add_argument("task", choices=list(RECIPES), help="text, image: your files (--data); imdb, reuters, pets: the lecture's")
    own = parser.add_argument_group("your own data (text, image)")
    own.add_argument("--data", metavar="PATH", help="text: a .csv/.tsv/.jsonl file or a folder of class sub-folders of "
                     ".txt files; image: a folder of class sub-folders of images")
    own.add_argument("--test", metavar="PATH", help="the test set in the same form (default: a stratified fifth of --data)")
    own.add_argument("--text-column", default="text", help="CSV/TSV column or JSON field holding the text (default text)")
    own.add_argument("--label-column", default="label", help="CSV/TSV column or JSON field holding the label (default label)")
    parser.add_argument("--data-dir", help="imdb, reuters, pets: local data directory (default: $EDGEPORT_DATA_DIR, then the Keras cache)")
    parser.add_argument("--out", help="output bundle directory (default: artifacts/TASK)")
    parser.add_argument("--epochs", type=int, help="train exactly N epochs (default: text and image tasks stop early "
                        "on the validation loss, after a minimum number of steps)")
    parser.add_argument("--batch-size", type=int, help="override the recipe's batch size")
    parser.add_argument("--class-weights", action="store_true", help="weigh classes by the inverse of their size when the "
                        "largest is more than twice the smallest (Keras class_weight, balanced)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    text = parser.add_argument_group("text tasks")
    text.add_argument("--num-words", type=int, help="vocabulary size, reserved ids included (default 10000)")
    text.add_argument("--maxlen", type=int, help="words kept per text")
    text.add_argument("--head", choices=["flatten", "conv-maxpool", "average", "maxpool"], help="layers between embedding and output")
    text.add_argument("--embedding-dim", type=int, help="embedding width")
    text.add_argument("--tokenizer", choices=["mediapipe", "keras"], help="text: how words are split and padded; "
                      "mediapipe (default): as MediaPipe's TextClassifier does on a phone; keras: lower-cased, Keras' filters")
    image = parser.add_argument_group("image tasks")
    image.add_argument("--alpha", type=float, help="MobileNet width multiplier (default 0.25)")
    image.add_argument("--image-size", type=int, help="input height and width (default 224)")
    image.add_argument("--base-weights", help="imagenet | none | PATH to an .h5 file (default imagenet)")
    image.add_argument("--int8-refit-epochs", type=int, help="epochs of the head on the int8-grid body (default 2; 0: "
                       "leave the weights as trained, and int8 files may answer differently)")
    parser.add_argument(
        "--strategy",
        default="auto",
        choices=["auto", "default", "mirrored", "multi-worker"],
        help="tf.distribute strategy; auto: multi-worker when TF_CONFIG names several workers, "
        "mirrored with several GPUs, else default",
    )
    parser.add_argument("--logical-cpus", type=int, help="split the CPU into N logical devices (for mirrored on a CPU)")
    parser.add_argument("--quiet", action="store_true", help="no per-epoch progress")
    return parser.parse_args(argv)


def refuse(message: str) -> int:
    print(f"edgeport-train: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    recipe = RECIPES[args.task].with_overrides(epochs=args.epochs, batch_size=args.batch_size)
    if args.epochs is not None:  # exactly N epochs: no minimum, no early stopping
        recipe = recipe.with_overrides(min_steps=0, patience=0)
    if args.class_weights:
        recipe = recipe.with_overrides(class_weighting=True)
    text_options = (args.num_words, args.maxlen, args.head, args.embedding_dim)
    if isinstance(recipe, ImageRecipe):
        recipe = recipe.with_overrides(alpha=args.alpha, image_size=args.image_size, base_weights=args.base_weights,
                                        int8_refit_epochs=args.int8_refit_epochs)
        if any(v is not None for v in text_options):
            return refuse(f"--num-words, --maxlen, --head and --embedding-dim apply to text tasks, not {args.task}")
    elif any(v is not None for v in (args.alpha, args.image_size, args.base_weights, args.int8_refit_epochs)):
        return refuse(f"--alpha, --image-size, --base-weights and --int8-refit-epochs apply to image tasks, not {args.task}")
    else:
        recipe = recipe.with_overrides(num_words=args.num_words, maxlen=args.maxlen, head=args.head, embedding_dim=args.embedding_dim)
    if args.tokenizer is not None and args.task != "text":
        return refuse(f"--tokenizer applies to your own texts (text); {args.task}'s data come as Keras word ids")
    recipe = recipe.with_overrides(tokenizer=args.tokenizer) if args.tokenizer else recipe
    if args.int8_refit_epochs is not None and args.int8_refit_epochs < 0:
        return refuse(f"--int8-refit-epochs must be 0 or more, got {args.int8_refit_epochs}")
    for name, value in (("--num-words", args.num_words), ("--maxlen", args.maxlen), ("--embedding-dim", args.embedding_dim)):
        if value is not None and value < (5 if name == "--num-words" else 1):
            return refuse(f"{name} must be at least {5 if name == '--num-words' else 1}, got {value}")
    if args.task in USER_DATA_TASKS and not args.data:
        return refuse(f"{args.task} trains on your own files: pass --data PATH")
    if args.task not in USER_DATA_TASKS and (args.data or args.test):
        return refuse(f"--data and --test are for the text and image tasks; {args.task} reads --data-dir")

    columns = TextColumns(args.text_column, args.label_column)
    try:  # before TensorFlow is imported: a bad path or file is answered at once
        check_inputs(recipe, args.data, args.test, columns, args.data_dir)
    except (DataNotFoundError, DataError) as exc:
        return refuse(str(exc))

    from edgeport.train.distribute import ClusterConfigError, use_logical_cpus
    from edgeport.train.keras_fixes import KerasVersionError
    from edgeport.train.loop import train_task
    from edgeport.train.task_data import UserData

    user = None
    if args.data:
        user = UserData(Path(args.data), Path(args.test) if args.test else None, columns)

    if args.logical_cpus:
        use_logical_cpus(args.logical_cpus)
    out = Path(args.out or Path("artifacts") / args.task)
    try:
        result = train_task(
            recipe, out, data_dir=args.data_dir, seed=args.seed, verbose=0 if args.quiet else "auto", strategy=args.strategy,
            user=user,
        )
    except (DataNotFoundError, DataError, ClusterConfigError, KerasVersionError) as exc:
        print(f"edgeport-train: {exc}", file=sys.stderr)
        return 2
    m = result.metrics
    where = result.model_path or "nothing written (not the chief)"
    grid = m.get("int8_grid")
    epochs = epochs_said(m["schedule"]) + (f" + {grid['head_refit_epochs']} of the head on the int8-grid body "
                                            f"(accuracy before: {grid['float_test_accuracy']:.4f})" if grid else "")
    base = m["baseline"]
    if not m["better_than_majority"]:  # before the summary line, which stays the last
        from edgeport.train.baseline import not_learned_line

        print(f"{args.task}: {not_learned_line(m['test_accuracy'], base)}")
    print(
        f"{args.task}: test accuracy {m['test_accuracy']:.4f} (loss {m['test_loss']:.4f}) on {m['test_samples']} samples "
        f"(always {base['majority_class']!r}: {base['majority_accuracy']:.4f}), "
        f"{epochs} in {m['wall_time_s']:.1f} s, {m['summary']} -> {where}"
    )
    return 0


def epochs_said(done: dict) -> str:
    """'8 epochs', or '23 epochs (early stopping; the weights of epoch 20)'."""
    said = f"{done['epochs_run']} epochs"
    if done["patience"]:
        said += f" (early stopping; the weights of epoch {done['best_epoch']})"
    return said
