"""The agreement set training writes: every photo and its mirror image; the test split for text."""

import numpy as np

from edgeport.train.agreement import agreement_inputs, write_agreement


def test_images_are_every_photo_and_its_horizontal_flip():
    rng = np.random.default_rng(0)
    x_train, x_test = rng.normal(size=(5, 4, 3, 3)), rng.normal(size=(2, 4, 3, 3))
    x = agreement_inputs(x_train, x_test, image=True)
    assert x.shape == (14, 4, 3, 3)
    np.testing.assert_array_equal(x[:5], x_train)
    np.testing.assert_array_equal(x[5:7], x_test)
    # pixel (row 1, column 0) of a flip is pixel (row 1, column 2) of the photo
    np.testing.assert_array_equal(x[7 + 3, 1, 0], x_train[3, 1, 2])
    np.testing.assert_array_equal(x[7:, :, ::-1], x[:7])


def test_text_is_the_test_split(tmp_path):
    x_train, x_test = np.arange(12).reshape(4, 3), np.arange(6).reshape(2, 3) + 100

    class Data:
        pass

    data = Data()
    data.x_train, data.x_test = x_train, x_test
    path = write_agreement(tmp_path, data, image=False)
    with np.load(path) as saved:
        np.testing.assert_array_equal(saved["x"], x_test)
