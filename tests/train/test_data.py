"""Data loading equals Keras' own loaders; missing or unusable data gives one clear error."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest

from tests.train.conftest import write_image_folder
from edgeport.train import data


def keras_loader_on(monkeypatch: pytest.MonkeyPatch, dataset: str, path: Path):
    """Keras' own `load_data`, reading `path` instead of downloading (its processing is untouched)."""
    module = __import__(f"keras.src.datasets.{dataset}", fromlist=["get_file"])
    monkeypatch.setattr(module, "get_file", lambda *args, **kwargs: str(path))
    return getattr(keras.datasets, dataset).load_data


def assert_same_splits(ours: data.TextSplits, theirs) -> None:
    (x_train, y_train), (x_test, y_test) = theirs
    assert ours.x_train == [list(x) for x in x_train]
    assert ours.x_test == [list(x) for x in x_test]
    np.testing.assert_array_equal(ours.y_train, y_train)
    np.testing.assert_array_equal(ours.y_test, y_test)


@pytest.mark.parametrize("num_words", [10, 25, 10000])
def test_imdb_processing_equals_keras(text_data_dir, monkeypatch, num_words):
    ours = data.load_imdb(num_words, text_data_dir)
    load = keras_loader_on(monkeypatch, "imdb", text_data_dir / "imdb.npz")
    assert_same_splits(ours, load(num_words=num_words))
    assert max(max(x) for x in ours.x_train) < num_words


@pytest.mark.parametrize("num_words", [10, 10000])
def test_reuters_processing_equals_keras(text_data_dir, monkeypatch, num_words):
    ours = data.load_reuters(num_words, text_data_dir)
    load = keras_loader_on(monkeypatch, "reuters", text_data_dir / "reuters.npz")
    assert_same_splits(ours, load(num_words=num_words))


@pytest.mark.realdata
def test_real_reuters_equals_keras(shared_data_dir, monkeypatch):
    ours = data.load_reuters(10000, shared_data_dir)
    assert (len(ours.x_train), len(ours.x_test)) == (8982, 2246)
    load = keras_loader_on(monkeypatch, "reuters", shared_data_dir / "reuters.npz")
    assert_same_splits(ours, load(num_words=10000))


@pytest.mark.realdata
def test_real_imdb_samples_processed_like_keras(shared_data_dir, tmp_path, monkeypatch):
    """Rebuild a raw `imdb.npz` from the real subset (ids back to ranks; OOV words get a rank past the
    subset's 500-word cut) and check that our processing and Keras' agree on it at several cuts."""
    subset = np.load(shared_data_dir / "imdb_subset.npz", allow_pickle=True)

    def to_ranks(xs):
        out = np.empty(len(xs), dtype=object)
        for i, x in enumerate(xs):
            out[i] = [w - 3 if w != 2 else 600 + i % 50 for w in x[1:]]
        return out

    np.savez(
        tmp_path / "imdb.npz",
        x_train=to_ranks(subset["x_train"]),
        y_train=subset["y_train"],
        x_test=to_ranks(subset["x_test"]),
        y_test=subset["y_test"],
    )
    load = keras_loader_on(monkeypatch, "imdb", tmp_path / "imdb.npz")
    for num_words in (100, 500, 10000):
        assert_same_splits(data.load_imdb(num_words, tmp_path), load(num_words=num_words))


@pytest.mark.realdata
def test_real_imdb_subset_is_used_as_processed(shared_data_dir):
    splits = data.load_imdb(10000, shared_data_dir)
    raw = np.load(shared_data_dir / "imdb_subset.npz", allow_pickle=True)
    assert splits.x_train[7] == list(raw["x_train"][7])
    assert (len(splits.x_train), len(splits.x_test), splits.num_words) == (5000, 1000, 500)


def test_vocabulary_applies_keras_offsets():
    vocab = data.vocabulary({"the": 1, "film": 2, "rare": 9}, num_words=6)
    assert vocab == {"the": 4, "film": 5}


def test_missing_data_directory_is_one_clear_error(tmp_path):
    with pytest.raises(data.DataNotFoundError, match="does not exist.*--data-dir"):
        data.load_reuters(100, tmp_path / "nowhere")


def test_missing_dataset_offline_says_where_it_looked(tmp_path, monkeypatch):
    def offline(**kwargs):
        raise OSError("URL fetch failure: no network")

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    monkeypatch.delenv(data.DATA_DIR_ENV, raising=False)
    monkeypatch.setattr(keras.datasets.reuters, "load_data", offline)
    with pytest.raises(data.DataNotFoundError) as err:
        data.load_reuters(100, tmp_path)
    message = str(err.value)
    assert "reuters.npz" in message and str(tmp_path) in message and "--data-dir" in message
    assert "keras-home" in message


def test_image_folder_lists_awkward_names(tmp_path):
    root = write_image_folder(tmp_path / "pets", {"cats": 3, "dogs": 2})
    folder = data.list_image_folder(root)
    assert folder.class_names == ["cats", "dogs"]
    assert folder.labels.tolist() == [0, 0, 0, 1, 1]
    assert all(p.is_file() and " (" in p.name and "=" in p.name for p in folder.paths)


def test_empty_image_folder_is_a_clear_error(tmp_path):
    (tmp_path / "pets" / "cats").mkdir(parents=True)
    with pytest.raises(data.DataError, match="no class sub-folder with images.*at least two"):
        data.list_image_folder(tmp_path / "pets")


def test_one_class_image_folder_is_a_clear_error(tmp_path):
    root = write_image_folder(tmp_path / "pets", {"cats": 3})
    with pytest.raises(data.DataError, match="only the class 'cats'.*at least two"):
        data.list_image_folder(root)


def test_stratified_split_holds_out_each_class_and_repeats():
    labels = np.array([0] * 10 + [1] * 5 + [2] * 2)
    keep, held = data.stratified_split(labels, 0.2, seed=3)
    assert sorted(np.bincount(labels[held]).tolist()) == [1, 1, 2]
    assert set(keep).isdisjoint(held) and len(keep) + len(held) == len(labels)
    again = data.stratified_split(labels, 0.2, seed=3)
    assert held.tolist() == again[1].tolist()


def test_word_index_read_from_data_dir(text_data_dir):
    index = data.load_word_index("imdb", text_data_dir)
    assert index == json.loads((text_data_dir / "imdb_word_index.json").read_text())


def test_shards_are_disjoint_equal_and_cover_all_but_a_remainder():
    indices = np.arange(100, 111)  # 11 items for 3 workers: 3 each, 2 left out
    shards = [data.shard_indices(indices, i, 3) for i in range(3)]
    assert [len(s) for s in shards] == [3, 3, 3]
    assert len(set(np.concatenate(shards))) == 9 and set(np.concatenate(shards)) <= set(indices)
    with pytest.raises(data.DataError, match="cannot be shared among 20 workers"):
        data.shard_indices(indices, 0, 20)
