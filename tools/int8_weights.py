"""Which layers' int8 weights change the answers? Fake-quantise the kernels of chosen Keras layers (symmetric int8,
per output channel, as LiteRT and ONNX Runtime do; per output channel of a kernel equals per channel of its
BatchNorm-folded form) and measure class agreement with the float model on every photo and its flip.

    python tools/int8_weights.py artifacts/pets

A workstation tool: it imports Keras and the training code.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv: list[str] | None = None) -> int:
    import keras

    from edgeport.train.int8_grid import on_int8_grid, output_channel_axis
    from edgeport.train.loop import load_task_data
    from edgeport.train.recipes import recipe_from_dict
    from edgeport.train.samples import agreement_photos

    bundle = Path((argv or sys.argv[1:])[0])
    task = json.loads((bundle / "keras/task.json").read_text())
    data = load_task_data(recipe_from_dict(task["recipe"]), os.environ.get("EDGEPORT_DATA_DIR"), int(task.get("seed", 0)))
    model = keras.models.load_model(bundle / "keras/model.keras", compile=False)
    x = agreement_photos(data.x_train, data.x_test, int(task.get("seed", 0))).array()
    reference = model.predict(x, batch_size=64, verbose=0).argmax(1)
    original = {layer.name: [w.copy() for w in layer.get_weights()] for layer in model.layers if layer.get_weights()}

    kinds = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense)
    weighted = [layer for layer in model.layers if isinstance(layer, kinds)]
    convs = [layer.name for layer in weighted if not isinstance(layer, keras.layers.Dense)]
    dense = [layer.name for layer in weighted if isinstance(layer, keras.layers.Dense)]
    depthwise = [n for n in convs if n.startswith("conv_dw")]
    groups = {
        "all": convs + dense, "dense head": dense, "depthwise": depthwise, "pointwise and conv1": [n for n in convs if n not in depthwise],
        "conv_pw_13": ["conv_pw_13"], "all but conv_pw_13": [n for n in convs + dense if n != "conv_pw_13"],
    }
    if len(sys.argv) > 2 and sys.argv[2] == "--each":  # one layer at a time
        groups = {n: [n] for n in convs}
    print(f"{'weights quantised (int8, per channel)':40s} agreement on {len(x)} inputs")
    for title, names in groups.items():
        for layer in model.layers:
            if layer.name in original:
                layer.set_weights(original[layer.name])
        for name in names:
            layer = model.get_layer(name)
            weights = [w.copy() for w in original[name]]
            weights[0] = on_int8_grid(weights[0], output_channel_axis(layer))
            layer.set_weights(weights)
        agree = model.predict(x, batch_size=64, verbose=0).argmax(1) == reference
        print(f"{title:40s} {agree.mean():.4f} ({int(agree.sum())}/{len(x)})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
