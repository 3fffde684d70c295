"""Selective quantisation: which graph nodes belong to the Keras layers kept in float."""

import onnx
from onnx import TensorProto, helper

from edgeport.export.onnx import nodes_of_layers
from edgeport.export.utils import layer_matches


def test_layer_names_match_whole_keras_names_only():
    fused = "model_1/conv_pw_13_relu_1/Relu6;model_1/conv_pw_13_bn_1/batchnorm/add_1;model_1/conv_pw_13_1/convolution"
    assert layer_matches(fused, ("conv_pw_13",))
    assert not layer_matches(fused, ("conv_pw_1",))  # conv_pw_1 is not conv_pw_13
    assert layer_matches("model/conv_pw_1/convolution", ("conv_pw_1",))
    assert not layer_matches("model/dense_0_1/MatMul", ("conv_pw_13",))


def test_onnx_nodes_of_a_layer_include_the_unnamed_convolution_feeding_it(tmp_path):
    def value(name):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, 2, 4, 4])

    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["a"], name="Conv__10"),
        helper.make_node("Clip", ["a"], ["b"], name="m/conv_pw_1_relu_1/Relu6"),
        helper.make_node("Conv", ["b", "w2"], ["c"], name="Conv__11"),
        helper.make_node("Clip", ["c"], ["y"], name="m/conv_pw_13_relu_1/Relu6"),
    ]
    weights = [helper.make_tensor(n, TensorProto.FLOAT, [2, 2, 1, 1], [1.0] * 4) for n in ("w1", "w2")]
    graph = helper.make_graph(nodes, "g", [value("x")], [value("y")], initializer=weights)
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph), str(path))
    assert nodes_of_layers(path, ("conv_pw_13",)) == ["m/conv_pw_13_relu_1/Relu6", "Conv__11"]
    assert nodes_of_layers(path, ("conv_pw_1",)) == ["m/conv_pw_1_relu_1/Relu6", "Conv__10"]
    assert nodes_of_layers(path, ("dense_0",)) == []
