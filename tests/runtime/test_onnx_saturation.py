"""onnxruntime's int8 kernels as edgeport opens them add u8×s8 products without 16-bit saturation.

On x86-64 without VNNI, onnxruntime's fast u8×s8 kernel adds each pair of products in a saturating
16-bit lane: 255 × 127 + 255 × 127 = 64,770 becomes 32,767. The graph below is that case, 64 times over:
activations quantised to 255, weights to 127. Its exact answer is 64 × 6.0 × 1.0 = 384.
"""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from edgeport.runtime.backends.onnx import new_session  # noqa: E402

K = 64


def saturating_model() -> bytes:
    """x (1, K) → QDQ at 6/255 → MatMul with int8 weights 127 at 1/127 → QDQ at 2.0: onnxruntime fuses it
    into one integer MatMul."""
    def const(name: str, value: np.ndarray) -> onnx.TensorProto:
        return numpy_helper.from_array(np.asarray(value), name)

    initializers = [
        const("x_scale", np.float32(6 / 255)), const("x_zero", np.uint8(0)),
        const("w_q", np.full((K, 1), 127, np.int8)), const("w_scale", np.float32(1 / 127)), const("w_zero", np.int8(0)),
        const("y_scale", np.float32(2.0)), const("y_zero", np.uint8(0)),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "x_scale", "x_zero"], ["x_q"]),
        helper.make_node("DequantizeLinear", ["x_q", "x_scale", "x_zero"], ["x_dq"]),
        helper.make_node("DequantizeLinear", ["w_q", "w_scale", "w_zero"], ["w_dq"]),
        helper.make_node("MatMul", ["x_dq", "w_dq"], ["y"]),
        helper.make_node("QuantizeLinear", ["y", "y_scale", "y_zero"], ["y_q"]),
        helper.make_node("DequantizeLinear", ["y_q", "y_scale", "y_zero"], ["out"]),
    ]
    graph = helper.make_graph(nodes, "saturation", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, K])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 1])], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString()


def test_int8_products_add_up_without_saturating():
    session = new_session(saturating_model(), threads=1)
    (out,) = session.run(None, {"x": np.full((1, K), 6.0, np.float32)})
    assert out.tolist() == [[384.0]]  # the saturated kernel answers 194.0 on such a CPU
