"""Selective quantisation: which graph nodes belong to the Keras layers kept in float."""

import onnx
from onnx import TensorProto, helper

from edgeport.export.onnx import nodes_of_layers
from edgeport.export.converters import layer_matches


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


def test_tflite_keeps_the_named_layer_in_float_and_quantises_the_rest(tmp_path):
    import keras
    import numpy as np

    from edgeport.export.calibrate import RepresentativeBatches
    from edgeport.export.tflite import export_tflite, tflite_ops
    from edgeport.export.variants import INTEGER, Variant

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu6", name="conv_a")(inputs)
    x = keras.layers.Conv2D(4, 3, activation="relu6", name="conv_b")(x)
    outputs = keras.layers.Dense(2, activation="softmax", name="head")(keras.layers.GlobalAveragePooling2D(name="gap")(x))
    model = keras.Model(inputs, outputs, name="tiny")
    data = RepresentativeBatches(np.random.default_rng(0).normal(size=(16, 8, 8, 3)).astype(np.float32))
    row = Variant("tflite", "mixed", "test", INTEGER, {"optimize": True, "float_layers": ("conv_b",)}, calibrated=True)
    facts = export_tflite(model, tmp_path / "m.tflite", row, data)
    assert "conv_b" in facts["float_ops"] and "conv_a" not in facts["float_ops"]
    convs = [op for op in tflite_ops(tmp_path / "m.tflite") if op["op"] == "CONV_2D"]
    assert [op["outputs"][0] for op in convs] == ["int8", "float32"]
