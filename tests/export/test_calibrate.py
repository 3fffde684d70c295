"""Representative data: seeded, sized, re-iterable; the same batches feed TFLite and ONNX calibration."""

import numpy as np
import pytest

from edgeport.export.calibrate import RepresentativeData, onnx_reader, representative_batches, tflite_dataset


@pytest.fixture
def x_train():
    return np.arange(1000 * 4, dtype=np.int32).reshape(1000, 4)


def test_sample_is_seeded_sized_and_drawn_from_training_rows(x_train):
    a = representative_batches(x_train, samples=50, seed=3)
    b = representative_batches(x_train, samples=50, seed=3)
    c = representative_batches(x_train, samples=50, seed=4)
    assert len(a) == 50 and isinstance(a, RepresentativeData)
    assert np.array_equal(np.concatenate(list(a)), np.concatenate(list(b)))
    assert not np.array_equal(np.concatenate(list(a)), np.concatenate(list(c)))
    rows = {tuple(r) for r in x_train}
    assert all(tuple(r) in rows for batch in a for r in batch)
    assert len({tuple(r) for batch in a for r in batch}) == 50  # without replacement


def test_batches_keep_dtype_and_shape_and_iterate_again(x_train):
    data = representative_batches(x_train, samples=10, batch_size=4)
    batches = list(data)
    assert [len(b) for b in batches] == [4, 4, 2]
    assert all(b.dtype == np.int32 and b.shape[1:] == (4,) for b in batches)
    assert len(list(data)) == 3  # a second pass yields the same batches


def test_more_samples_than_rows_takes_them_all(x_train):
    assert len(representative_batches(x_train[:7], samples=300)) == 7
    with pytest.raises(ValueError):
        representative_batches(x_train, samples=0)
    with pytest.raises(ValueError):
        representative_batches(x_train[:0])


def test_tflite_and_onnx_see_the_same_batches(x_train):
    data = representative_batches(x_train, samples=6, batch_size=2)
    tflite_batches = [inputs[0] for inputs in tflite_dataset(data)()]
    reader = onnx_reader(data, "tokens")
    onnx_batches = []
    while (feed := reader.get_next()) is not None:
        onnx_batches.append(feed["tokens"])
    assert len(tflite_batches) == len(onnx_batches) == 3
    assert all(np.array_equal(t, o) for t, o in zip(tflite_batches, onnx_batches))
    reader.rewind()
    assert np.array_equal(reader.get_next()["tokens"], onnx_batches[0])
