"""Dataset loading: Keras' IMDB and Reuters word-rank sets, and folders of images by class.

Resolution order for every file: `--data-dir`, then `$EDGEPORT_DATA_DIR`, then the
Keras cache (`~/.keras/datasets`), then Keras' own download.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from edgeport.runtime.preprocess import IMAGE_SUFFIXES
from edgeport.train.recipes import INDEX_FROM, OOV_CHAR, START_CHAR

DATA_DIR_ENV = "EDGEPORT_DATA_DIR"
KERAS_SEED = 113  # the shuffle seed of keras.datasets.imdb / reuters


class DataNotFoundError(FileNotFoundError):
    """A dataset or weights file could not be found anywhere edgeport looks."""


class DataError(ValueError):
    """A dataset was found but cannot be used as it is."""


@dataclass(frozen=True)
class TextSplits:
    x_train: list[list[int]]
    y_train: np.ndarray
    x_test: list[list[int]]
    y_test: np.ndarray
    num_words: int  # the vocabulary the sequences really use (a processed subset may have fewer)
    source: str


# ---------------------------------------------------------------- locating files


def data_dirs(data_dir: str | os.PathLike | None) -> list[Path]:
    """The local directories to search, in order: the explicit one, then `$EDGEPORT_DATA_DIR`."""
    dirs = [Path(data_dir)] if data_dir else []
    if os.environ.get(DATA_DIR_ENV):
        dirs.append(Path(os.environ[DATA_DIR_ENV]))
    for d in dirs:
        if not d.is_dir():
            raise DataNotFoundError(
                f"data directory {d} does not exist; pass an existing --data-dir or set {DATA_DIR_ENV}"
            )
    return dirs


def keras_cache_dir(subdir: str = "datasets") -> Path:
    """Where Keras keeps downloads (`$KERAS_HOME` or `~/.keras`)."""
    return Path(os.path.expanduser(os.environ.get("KERAS_HOME", "~/.keras"))) / subdir


def find_local_file(names: Sequence[str], data_dir: str | os.PathLike | None, subdir: str = "datasets") -> Path | None:
    """The first of `names` found in the data directories, then in the Keras cache."""
    places = data_dirs(data_dir)
    candidates = [d / n for d in places for n in names]
    candidates += [d / subdir / n for d in places for n in names if subdir != "datasets"]
    candidates += [keras_cache_dir(subdir) / n for n in names]
    return next((p for p in candidates if p.is_file()), None)


def not_found_message(what: str, names: Sequence[str], data_dir: str | os.PathLike | None, subdir: str = "datasets") -> str:
    places = [str(d) for d in ([Path(data_dir)] if data_dir else [])]
    if os.environ.get(DATA_DIR_ENV):
        places.append(f"${DATA_DIR_ENV}={os.environ[DATA_DIR_ENV]}")
    places.append(str(keras_cache_dir(subdir)))
    return (
        f"{what} not found: looked for {' or '.join(names)} in {', '.join(places)}, "
        f"and the Keras download failed (offline?). Put the file into a data directory and pass "
        f"--data-dir DIR (or set {DATA_DIR_ENV}=DIR)."
    )


def download_or_explain(download: Callable[[], object], message: str) -> object:
    """Run a Keras download; turn any network failure into one clear `DataNotFoundError`."""
    try:
        return download()
    except Exception as exc:  # noqa: BLE001 — Keras raises several kinds (URLError, HTTPError, Exception)
        raise DataNotFoundError(f"{message} ({type(exc).__name__}: {exc})") from None


# ---------------------------------------------------------------- word-rank datasets


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """Read a Keras dataset archive. Object arrays need pickle: only read files from a trusted path."""
    try:
        with np.load(path, allow_pickle=True) as archive:
            return {k: archive[k] for k in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path} is not a readable .npz archive ({exc}); replace it with the original file") from None


def process_word_ranks(
    sequences: Sequence[Sequence[int]],
    num_words: int | None,
    skip_top: int = 0,
    start_char: int | None = START_CHAR,
    oov_char: int | None = OOV_CHAR,
    index_from: int = INDEX_FROM,
) -> list[list[int]]:
    """Keras' processing of raw word ranks: offset by `index_from`, mark the start, cut to `num_words`.

    Identical to the body of `keras.datasets.imdb.load_data` / `reuters.load_data` (without `maxlen`
    filtering, which edgeport replaces by `pad_sequences`).
    """
    if start_char is not None:
        xs = [[start_char] + [w + index_from for w in x] for x in sequences]
    else:
        xs = [[w + index_from for w in x] for x in sequences]
    if not num_words:
        num_words = max(max(x) for x in xs if x)
    if oov_char is not None:
        return [[w if skip_top <= w < num_words else oov_char for w in x] for x in xs]
    return [[w for w in x if skip_top <= w < num_words] for x in xs]


def _shuffled(rng: np.random.RandomState, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    indices = np.arange(len(arrays[0]))
    rng.shuffle(indices)
    return tuple(a[indices] for a in arrays)


def load_imdb(num_words: int, data_dir: str | os.PathLike | None = None, seed: int = KERAS_SEED) -> TextSplits:
    """IMDB reviews as Keras gives them: `imdb.npz` (raw, processed here like Keras) or the
    already-processed `imdb_subset.npz` (used as it is)."""
    raw = find_local_file(["imdb.npz"], data_dir)
    if raw is not None:
        d = load_npz(raw)
        rng = np.random.RandomState(seed)
        x_train, y_train = _shuffled(rng, d["x_train"], d["y_train"])
        x_test, y_test = _shuffled(rng, d["x_test"], d["y_test"])
        xs = process_word_ranks(list(x_train) + list(x_test), num_words)
        n = len(x_train)
        return TextSplits(xs[:n], np.asarray(y_train), xs[n:], np.asarray(y_test), num_words, str(raw))
    subset = find_local_file(["imdb_subset.npz"], data_dir)
    if subset is not None:
        d = load_npz(subset)
        x_train = [list(map(int, x)) for x in d["x_train"]]
        x_test = [list(map(int, x)) for x in d["x_test"]]
        used = max(max(x) for x in x_train + x_test if x) + 1
        if used > num_words:
            x_train, x_test = (process_word_ranks([[w - INDEX_FROM for w in x[1:]] for x in xs], num_words) for xs in (x_train, x_test))
        return TextSplits(x_train, d["y_train"], x_test, d["y_test"], min(used, num_words), str(subset))
    import keras

    message = not_found_message("IMDB dataset", ["imdb.npz", "imdb_subset.npz"], data_dir)
    (x_train, y_train), (x_test, y_test) = download_or_explain(lambda: keras.datasets.imdb.load_data(num_words=num_words), message)
    return TextSplits(list(map(list, x_train)), y_train, list(map(list, x_test)), y_test, num_words, "keras.datasets.imdb")


def load_reuters(num_words: int, data_dir: str | os.PathLike | None = None, seed: int = KERAS_SEED, test_split: float = 0.2) -> TextSplits:
    """Reuters newswires as `keras.datasets.reuters.load_data(num_words=...)` gives them."""
    raw = find_local_file(["reuters.npz"], data_dir)
    if raw is None:
        import keras

        message = not_found_message("Reuters dataset", ["reuters.npz"], data_dir)
        (x_train, y_train), (x_test, y_test) = download_or_explain(lambda: keras.datasets.reuters.load_data(num_words=num_words), message)
        return TextSplits(list(map(list, x_train)), y_train, list(map(list, x_test)), y_test, num_words, "keras.datasets.reuters")
    d = load_npz(raw)
    xs, labels = _shuffled(np.random.RandomState(seed), d["x"], d["y"])
    xs = process_word_ranks(xs, num_words)
    n = int(len(xs) * (1 - test_split))
    return TextSplits(xs[:n], np.asarray(labels[:n]), xs[n:], np.asarray(labels[n:]), num_words, str(raw))


def load_word_index(dataset: str, data_dir: str | os.PathLike | None = None) -> dict[str, int]:
    """word → rank, as `keras.datasets.<dataset>.get_word_index()` returns it."""
    name = f"{dataset}_word_index.json"
    path = find_local_file([name], data_dir)
    if path is None:
        import keras

        loader = getattr(keras.datasets, dataset).get_word_index
        return download_or_explain(loader, not_found_message(f"{dataset} word index", [name], data_dir))
    return json.loads(path.read_text(encoding="utf-8"))


def vocabulary(word_index: dict[str, int], num_words: int, index_from: int = INDEX_FROM) -> dict[str, int]:
    """The word index cut to `num_words` with Keras' offset applied: word → token id."""
    return {w: r + index_from for w, r in word_index.items() if r + index_from < num_words}


# ---------------------------------------------------------------- image folders


@dataclass(frozen=True)
class ImageFolder:
    paths: list[Path]
    labels: np.ndarray  # class index per path
    class_names: list[str]


def list_image_folder(root: str | os.PathLike) -> ImageFolder:
    """Class sub-folders of image files, sorted by name (the order Keras' directory loaders use)."""
    root = Path(root)
    if not root.is_dir():
        raise DataNotFoundError(f"image folder {root} does not exist; pass a folder of class sub-folders")
    class_dirs = sorted((d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")), key=lambda d: d.name)
    paths, labels, names = [], [], []
    for d in class_dirs:
        files = sorted(f for f in d.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
        if files:
            names.append(d.name)
            paths += files
            labels += [len(names) - 1] * len(files)
    if len(names) < 2:
        found = f"only the class {names[0]!r}" if names else "no class sub-folder with images"
        raise DataError(
            f"image folder {root} has {found}; a classifier needs at least two sub-folders "
            f"(one per class) holding {'/'.join(IMAGE_SUFFIXES)} files"
        )
    return ImageFolder(paths, np.asarray(labels, dtype=np.int64), names)


def find_image_folder(data_dir: str | os.PathLike | None, name: str = "pets") -> Path:
    """`DIR/<name>/` in the data directories, or a data directory that itself holds class sub-folders."""
    for d in data_dirs(data_dir):
        if (d / name).is_dir():
            return d / name
        if any(f.suffix.lower() in IMAGE_SUFFIXES for sub in d.iterdir() if sub.is_dir() for f in sub.iterdir()):
            return d
    raise DataNotFoundError(
        f"no image folder found: looked for {name}/ in the data directories (--data-dir, ${DATA_DIR_ENV}); "
        "pass --data-dir DIR where DIR holds one sub-folder of images per class"
    )


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (keep, held_out): `fraction` of every class held out, at least one item per class."""
    rng = np.random.RandomState(seed)
    keep, held = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        n = max(1, int(round(len(idx) * fraction))) if fraction > 0 else 0
        held += list(idx[:n])
        keep += list(idx[n:])
    return np.sort(np.asarray(keep, dtype=np.int64)), np.sort(np.asarray(held, dtype=np.int64))


def shard_indices(indices: np.ndarray, index: int, count: int) -> np.ndarray:
    """Worker `index`'s share of `indices` out of `count`: strided, disjoint and of equal size for every
    worker (a remainder of fewer than `count` items is left out), so all workers run the same steps."""
    per_worker = len(indices) // count
    if per_worker == 0:
        raise DataError(f"{len(indices)} training images cannot be shared among {count} workers; add images or use fewer workers")
    return indices[index::count][:per_worker]
