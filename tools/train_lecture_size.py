"""The lecture-size pets model (MobileNet alpha 1.0) without its ImageNet weights, for the int8 table:
trained from scratch with every layer and BatchNorm trainable, BatchNorm's statistics then re-estimated
on every training photo (one pass in training mode with momentum 0: the moving averages of 100 steps
from scratch answer "cat" for every photo), then the int8-grid step as `edgeport-train` does it.

    python tools/train_lecture_size.py --data-dir DATA --seed 0 --out artifacts/pets-a1-s0
    edgeport-export artifacts/pets-a1-s0 --allow-failures

A workstation tool: it imports the training code.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("EDGEPORT_DATA_DIR"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)

    import keras

    from edgeport.train.int8_grid import int8_ready
    from edgeport.train.loop import input_dataset, load_task_data, targets, train_task
    from edgeport.train.models import compile_image_model
    from edgeport.train.recipes import PETS

    recipe = PETS.with_overrides(alpha=1.0, base_weights="none", frozen_layers=0, freeze_batchnorm=False,
                                 learning_rate=1e-3, epochs=args.epochs, int8_refit_epochs=0)
    train_task(recipe, args.out, data_dir=args.data_dir, seed=args.seed, verbose=2)
    model_path = os.path.join(args.out, "keras", "model.keras")
    model = keras.models.load_model(model_path, compile=False)
    data = load_task_data(recipe, args.data_dir, args.seed)
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in norms:
        layer.momentum = 0.0
    model(data.x_train.array(), training=True)  # moving statistics := the training set's
    for layer in norms:
        layer.momentum = 0.99
    classes = len(data.labels)
    test = input_dataset(data.x_test, targets(recipe, data.y_test, classes), recipe.batch_size, None)
    train = input_dataset(data.x_train, targets(recipe, data.y_train, classes), recipe.batch_size, args.seed)
    compile_image_model(model, recipe)
    print(f"held-out accuracy, statistics re-estimated: {model.evaluate(test, verbose=0)[1]:.4f}")
    int8_ready(model, lambda m: m.fit(train, epochs=PETS.int8_refit_epochs, verbose=2),
               lambda m: compile_image_model(m, recipe))
    print(f"held-out accuracy, kernels on their int8 grid: {model.evaluate(test, verbose=0)[1]:.4f}")
    model.save(model_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
