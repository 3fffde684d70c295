"""Weights on their int8 grid: the last step of training an image model, so that its int8 files answer like it.

Full-integer converters store each kernel as int8 per output channel, symmetric: `round(w / s)` with
`s = max|w| / 127`. That rounding alone moves a MobileNet's answers (README, "int8 on the pets model").
Here the Keras model takes the rounding itself: every convolution kernel is set to its grid values, the
dense head is trained again for a few epochs on top of that body, and then the head's kernels are put
on their grid too. The converters' rounding then changes nothing, and what is left between Keras and an
int8 file is the activations' quantisation.

A BatchNormalization that follows a convolution scales each output channel by one factor, so a kernel
on its grid stays on it once the converter has folded that factor in.
"""

from __future__ import annotations

from typing import Any, Callable

import keras
import numpy as np

INT8_MAX = 127


def on_int8_grid(kernel: np.ndarray, axis: int) -> np.ndarray:
    """`kernel` rounded to the symmetric int8 grid of each slice along `axis` (its output channels)."""
    axis %= kernel.ndim
    others = tuple(i for i in range(kernel.ndim) if i != axis)
    peak = np.abs(kernel).max(axis=others, keepdims=True)
    scale = np.where(peak > 0, peak / INT8_MAX, 1.0)
    return (np.clip(np.round(kernel / scale), -INT8_MAX, INT8_MAX) * scale).astype(kernel.dtype)


def output_channel_axis(layer: keras.layers.Layer) -> int:
    """The axis of a kernel that int8 converters quantise by: a depthwise kernel's channels, else its outputs."""
    return 2 if isinstance(layer, keras.layers.DepthwiseConv2D) else -1


def convolutions(model: keras.Model) -> list[keras.layers.Layer]:
    return [layer for layer in model.layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D))]


def dense_layers(model: keras.Model) -> list[keras.layers.Layer]:
    return [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]


def put_on_grid(layers: list[keras.layers.Layer]) -> None:
    """Set each layer's kernel (its first weight) to its int8 grid values."""
    for layer in layers:
        weights = layer.get_weights()
        weights[0] = on_int8_grid(weights[0], output_channel_axis(layer))
        layer.set_weights(weights)


def int8_ready(model: keras.Model, refit: Callable[[keras.Model], Any], compile_model: Callable[[keras.Model], None]) -> None:
    """Put the convolutions on their grid, train the dense head again (`refit(model)`, everything else
    frozen; `compile_model` compiles for it), then put the head on its grid. Trainable flags are restored."""
    put_on_grid(convolutions(model))
    head = {id(layer) for layer in dense_layers(model)}
    trainable = {id(layer): layer.trainable for layer in model.layers}
    for layer in model.layers:
        layer.trainable = id(layer) in head
    compile_model(model)
    refit(model)
    put_on_grid(dense_layers(model))
    for layer in model.layers:
        layer.trainable = trainable[id(layer)]
