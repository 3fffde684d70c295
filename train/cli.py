"""`edgeport-train TASK`: parse arguments, train, print one summary line."""

from __future__ import annotations

import os

# Set before TensorFlow's first import: its C++ start-up and log lines (and gRPC's, in a multi-worker
# run) stay off the terminal. A value the user set is kept.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

import argparse
import sys
from pathlib import Path

from edgeport.train.recipes import RECIPES, ImageRecipe


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="edgeport-train", description="Train one of edgeport's Keras models.")
    parser.add_argument("task", choices=sorted(RECIPES), help="which recipe to train")
    parser.add_argument("--data-dir", help="local data directory (default: $EDGEPORT_DATA_DIR, then the Keras cache)")
    parser.add_argument("--out", help="output bundle directory (default: artifacts/TASK)")
    parser.add_argument("--epochs", type=int, help="override the recipe's epoch count")
    parser.add_argument("--batch-size", type=int, help="override the recipe's batch size")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    image = parser.add_argument_group("image tasks")
    image.add_argument("--alpha", type=float, help="MobileNet width multiplier (default 0.25)")
    image.add_argument("--image-size", type=int, help="input height and width (default 224)")
    image.add_argument("--base-weights", help="imagenet | none | PATH to an .h5 file (default imagenet)")
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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    recipe = RECIPES[args.task].with_overrides(epochs=args.epochs, batch_size=args.batch_size)
    if isinstance(recipe, ImageRecipe):
        recipe = recipe.with_overrides(alpha=args.alpha, image_size=args.image_size, base_weights=args.base_weights)
    elif any(v is not None for v in (args.alpha, args.image_size, args.base_weights)):
        print(f"edgeport-train: --alpha, --image-size and --base-weights apply to image tasks, not {args.task}", file=sys.stderr)
        return 2

    from edgeport.train.data import DataError, DataNotFoundError
    from edgeport.train.distribute import ClusterConfigError, use_logical_cpus
    from edgeport.train.keras_fixes import KerasVersionError
    from edgeport.train.loop import train_task

    if args.logical_cpus:
        use_logical_cpus(args.logical_cpus)
    out = Path(args.out or Path("artifacts") / args.task)
    try:
        result = train_task(
            recipe, out, data_dir=args.data_dir, seed=args.seed, verbose=0 if args.quiet else "auto", strategy=args.strategy
        )
    except (DataNotFoundError, DataError, ClusterConfigError, KerasVersionError) as exc:
        print(f"edgeport-train: {exc}", file=sys.stderr)
        return 2
    m = result.metrics
    where = result.model_path or "nothing written (not the chief)"
    print(
        f"{args.task}: test accuracy {m['test_accuracy']:.4f} (loss {m['test_loss']:.4f}) on {m['test_samples']} samples, "
        f"{recipe.epochs} epochs in {m['wall_time_s']:.1f} s, {m['summary']} -> {where}"
    )
    return 0
