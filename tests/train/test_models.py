"""The models have exactly the architectures the recipes promise."""

from __future__ import annotations

import keras
import pytest

from edgeport.train import models
from edgeport.train.data import DataNotFoundError
from edgeport.train.recipes import IMDB, PETS, REUTERS


def test_imdb_model_is_the_lectures():
    model = models.build_text_model(IMDB)
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    assert [type(layer).__name__ for layer in layers] == ["Embedding", "Flatten", "Dense"]
    embedding, _, dense = layers
    assert (embedding.input_dim, embedding.output_dim) == (10000, 8)
    assert dense.units == 1 and dense.activation.__name__ == "sigmoid"
    assert model.input_shape == (None, 20)
    assert model.count_params() == 80161  # 10000*8 + (20*8 + 1)
    assert model.loss == "binary_crossentropy" and isinstance(model.optimizer, keras.optimizers.RMSprop)


def test_reuters_model_has_a_256_dim_embedding_and_46_topics():
    model = models.build_text_model(REUTERS)
    embedding = model.get_layer("embedding")
    assert (embedding.input_dim, embedding.output_dim) == (10000, 256)
    assert model.output_shape == (None, 46)
    assert model.layers[-1].activation.__name__ == "softmax"
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv1D)]
    assert sorted(c.kernel_size[0] for c in convs) == [3, 4, 5] and {c.filters for c in convs} == {64}
    assert not any(isinstance(layer, keras.layers.RNN) for layer in model.layers)  # exports to TFLite builtins


def test_pets_model_freezes_exactly_the_first_20_layers():
    recipe = PETS.with_overrides(image_size=64)
    model = models.build_image_model(recipe, num_classes=3, weights=None)
    assert [layer.trainable for layer in model.layers[:20]] == [False] * 20
    rest = model.layers[20:]
    assert all(layer.trainable for layer in rest if not isinstance(layer, keras.layers.BatchNormalization))
    assert not any(layer.trainable for layer in rest if isinstance(layer, keras.layers.BatchNormalization))
    assert sum(1 for layer in rest if layer.trainable and layer.weights) >= 20  # depthwise, conv and dense layers


def test_pets_model_can_train_batchnorm_as_the_lecture_did():
    recipe = PETS.with_overrides(image_size=64, freeze_batchnorm=False)
    model = models.build_image_model(recipe, num_classes=3, weights=None)
    assert [layer.trainable for layer in model.layers[:20]] == [False] * 20
    assert all(layer.trainable for layer in model.layers[20:])
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [d.units for d in dense] == [1024, 1024, 512, 3]
    assert [d.activation.__name__ for d in dense] == ["relu", "relu", "relu", "softmax"]
    assert isinstance(model.layers[-5], keras.layers.GlobalAveragePooling2D)
    assert model.input_shape == (None, 64, 64, 3)
    assert model.loss == "categorical_crossentropy" and isinstance(model.optimizer, keras.optimizers.Adam)


def test_weights_file_name_is_keras_own():
    assert models.mobilenet_weights_name(0.25, 224) == "mobilenet_2_5_224_tf_no_top.h5"
    assert models.mobilenet_weights_name(1.0, 128) == "mobilenet_1_0_128_tf_no_top.h5"
    with pytest.raises(ValueError, match="0.25, 0.5, 0.75 and 1.0"):
        models.mobilenet_weights_name(0.3, 224)


def test_imagenet_weights_resolve_in_data_dir_first(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    (tmp_path / "weights").mkdir()
    local = tmp_path / "weights" / "mobilenet_2_5_224_tf_no_top.h5"
    local.write_bytes(b"h5")
    assert models.resolve_base_weights("imagenet", 0.25, 224, tmp_path) == str(local)
    assert models.resolve_base_weights("imagenet", 0.5, 224, tmp_path) == "imagenet"  # left to Keras' download
    assert models.resolve_base_weights("none", 0.25, 224, tmp_path) is None
    with pytest.raises(DataNotFoundError, match="does not exist"):
        models.resolve_base_weights(str(tmp_path / "missing.h5"), 0.25, 224, tmp_path)
