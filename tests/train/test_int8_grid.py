"""Kernels on their int8 grid: the values, what the converter makes of them, and the head's second training."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from edgeport.train.int8_grid import int8_ready, on_int8_grid  # noqa: E402


def test_grid_values_by_hand():
    kernel = np.array([[1.0, 0.5], [0.26, -0.2], [-0.5, 0.1]], np.float32)  # two output channels (last axis)
    expected = np.array([[127, 127], [33, -51], [-64, 25]], np.float64) * np.array([1.0 / 127, 0.5 / 127])
    # 0.26 × 127 = 33.02; −0.2 ÷ (0.5/127) = −50.8; −0.5 × 127 = −63.5 rounds to even; 0.1 ÷ (0.5/127) = 25.4
    np.testing.assert_allclose(on_int8_grid(kernel, axis=-1), expected, rtol=0, atol=1e-7)


def test_grid_is_per_channel_along_the_axis_and_keeps_zeros():
    kernel = np.zeros((3, 3, 4, 1), np.float32)
    kernel[..., 1, 0] = np.linspace(-2.0, 1.0, 9).reshape(3, 3)
    kernel[..., 2, 0] = 1e-3
    snapped = on_int8_grid(kernel, axis=2)
    assert not snapped[..., 0, 0].any()  # an all-zero channel stays zero
    steps = snapped[..., 1, 0] / (2.0 / 127)
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-4)
    assert snapped[..., 1, 0].min() == pytest.approx(-2.0)
    np.testing.assert_allclose(snapped[..., 2, 0], 1e-3, rtol=1e-6)  # a constant channel is its own grid
    np.testing.assert_array_equal(on_int8_grid(snapped, axis=2), snapped)  # already on it: unchanged


def conv_bn_model() -> keras.Model:
    keras.utils.set_random_seed(3)
    inputs = keras.Input((12, 12, 3), name="image")
    x = keras.layers.Conv2D(8, 3, use_bias=False, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="conv_bn")(x)
    x = keras.layers.ReLU(6.0)(x)
    x = keras.layers.DepthwiseConv2D(3, use_bias=False, name="dw")(x)
    x = keras.layers.BatchNormalization(name="dw_bn")(x)
    x = keras.layers.ReLU(6.0)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(3, activation="softmax", name="head")(x)
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(0)
    for name in ("conv_bn", "dw_bn"):  # statistics that make BatchNorm fold a different factor into each channel
        layer = model.get_layer(name)
        gamma, beta, mean, var = layer.get_weights()
        layer.set_weights([rng.uniform(-2, 2, gamma.shape), rng.normal(0, 0.5, beta.shape),
                           rng.normal(0, 0.5, mean.shape), rng.uniform(0.1, 3, var.shape)])
    return model


def folded(model: keras.Model, conv: str, bn: str, axis: int) -> np.ndarray:
    """The kernel times its BatchNorm's per-channel factor, as converters fold it."""
    gamma, _, _, var = model.get_layer(bn).get_weights()
    factor = gamma / np.sqrt(var + model.get_layer(bn).epsilon)
    shape = [1] * 4
    shape[axis] = -1
    return model.get_layer(conv).get_weights()[0] * factor.reshape(shape)


def int8_kernels(model: keras.Model) -> dict[tuple[int, ...], np.ndarray]:
    """The 4-D int8 weights of LiteRT's full-integer file, dequantised, by shape."""
    tf = pytest.importorskip("tensorflow")
    from ai_edge_litert.interpreter import Interpreter

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    rng = np.random.default_rng(1)
    converter.representative_dataset = lambda: ([rng.uniform(-1, 1, (1, 12, 12, 3)).astype(np.float32)] for _ in range(8))
    interpreter = Interpreter(model_content=converter.convert())
    stored = {}
    for detail in interpreter.get_tensor_details():
        if detail["dtype"] == np.int8 and len(detail["shape"]) == 4:
            try:
                values = interpreter.get_tensor(detail["index"]).astype(np.float64)
            except ValueError:  # an activation: no data before a call
                continue
            quantization = detail["quantization_parameters"]
            shape = [1] * 4
            shape[quantization["quantized_dimension"]] = -1
            stored[tuple(detail["shape"])] = values * quantization["scales"].reshape(shape)
    return stored


@pytest.mark.parametrize("on_grid", [True, False])
def test_the_int8_converter_keeps_kernels_on_their_grid_exactly(on_grid):
    """LiteRT's full-integer file stores a grid kernel, BatchNorm folded in, without rounding it further
    (and rounds one that is off its grid: the comparison can tell)."""
    model = conv_bn_model()
    if on_grid:
        for name, axis in (("conv", -1), ("dw", 2)):
            layer = model.get_layer(name)
            layer.set_weights([on_int8_grid(layer.get_weights()[0], axis)])
    stored = int8_kernels(model)
    conv = folded(model, "conv", "conv_bn", -1).transpose(3, 0, 1, 2)  # LiteRT: (out, h, w, in)
    dw = folded(model, "dw", "dw_bn", 2).transpose(3, 0, 1, 2)  # LiteRT: (1, h, w, channels)
    for kernel in (conv, dw):
        error = np.abs(stored[kernel.shape] - kernel).max() / np.abs(kernel).max()
        assert (error < 1e-6) if on_grid else (error > 1e-4), error


def test_int8_ready_trains_only_the_head_then_puts_it_on_its_grid():
    model = conv_bn_model()
    model.get_layer("conv").trainable = False  # a flag of the recipe's: restored afterwards
    seen = {}

    def compile_model(m: keras.Model) -> None:
        m.compile(optimizer="adam", loss="categorical_crossentropy")

    def refit(m: keras.Model) -> None:
        seen["trainable"] = sorted(layer.name for layer in m.layers if layer.trainable)
        seen["body_on_grid"] = all(
            np.array_equal(on_int8_grid(m.get_layer(n).get_weights()[0], a), m.get_layer(n).get_weights()[0])
            for n, a in (("conv", -1), ("dw", 2)))
        rng = np.random.default_rng(2)
        x = rng.uniform(-1, 1, (16, 12, 12, 3)).astype(np.float32)
        y = keras.utils.to_categorical(rng.integers(0, 3, 16), 3)
        m.fit(x, y, epochs=1, verbose=0)

    int8_ready(model, refit, compile_model)
    assert seen == {"trainable": ["head"], "body_on_grid": True}
    head = model.get_layer("head").get_weights()[0]
    np.testing.assert_array_equal(on_int8_grid(head, -1), head)
    assert not model.get_layer("conv").trainable and model.get_layer("dw").trainable and model.get_layer("head").trainable
