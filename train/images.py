"""Image folders streamed from disk: a `tf.data` pipeline over the list of files, never the folder in memory.

Each file is decoded and resized by the runtime's own Pillow code (`edgeport.runtime.preprocess`) inside
the pipeline (`tf.numpy_function`), then normalised as `mobilenet.preprocess_input`: the pixels a model
trains on are the pixels the device gives it. TensorFlow's own decoder and resize differ from Pillow's
by far more than the runtime's parity tolerance (README, "Streaming large folders").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import tensorflow as tf

from edgeport.runtime.errors import ImageError
from edgeport.runtime.preprocess import load_pixels, normalize
from edgeport.train.data import DataError

NORMALIZATION = "mobilenet"  # x / 127.5 - 1, as keras.applications.mobilenet.preprocess_input


@dataclass(frozen=True)
class ImageFiles:
    """A list of image files and how to make model-ready pixels of them (nothing is decoded until asked)."""

    paths: tuple[str, ...]
    size: int
    interpolation: str
    flipped: tuple[bool, ...] = ()  # per file: mirrored left to right (none when empty)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, key: slice | np.ndarray) -> "ImageFiles":
        rows = range(len(self.paths))[key] if isinstance(key, slice) else [int(i) for i in key]
        return ImageFiles(tuple(self.paths[i] for i in rows), self.size, self.interpolation,
                          tuple(self.flips[i] for i in rows))

    @property
    def flips(self) -> tuple[bool, ...]:
        return self.flipped or (False,) * len(self.paths)

    def with_flips(self) -> "ImageFiles":
        """These files, then each of them mirrored left to right."""
        return ImageFiles(self.paths * 2, self.size, self.interpolation, self.flips + (True,) * len(self.paths))

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.paths), self.size, self.size, 3)

    def decoded(self, path: str, flip: bool = False) -> np.ndarray:
        """One file → uint8 (size, size, 3) as decoded and resized, before normalisation (mirrored when `flip`)."""
        try:
            raw = load_pixels(path, (self.size, self.size), self.interpolation)
        except ImageError as exc:
            raise DataError(f"{exc}; remove or replace the file") from None
        return np.ascontiguousarray(raw[:, ::-1]) if flip else raw

    def pixels(self, path: str, flip: bool = False) -> np.ndarray:
        """One file → float32 (size, size, 3), model-ready (mirrored when `flip`)."""
        return normalize(self.decoded(path, flip).astype(np.float32), NORMALIZATION)

    def array(self) -> np.ndarray:
        """Model-ready pixels of every file as one float32 array (for a list that fits in memory)."""
        return np.concatenate(list(self.batches()))

    def batches(self, batch_size: int = 32) -> Iterator[np.ndarray]:
        """Model-ready pixels, `batch_size` files at a time."""
        items = list(zip(self.paths, self.flips))
        for start in range(0, len(items), batch_size):
            yield np.stack([self.pixels(p, f) for p, f in items[start : start + batch_size]])


def image_dataset(
    files: ImageFiles, y: np.ndarray, global_batch: int, shuffle_seed: int | None, already_sharded: bool = False
) -> tf.data.Dataset:
    """(pixels, label) batches decoded on the fly; shuffling shuffles file names only. Sharding as
    `distribute.array_dataset`: OFF for a list already cut by file (one share per worker), else DATA."""
    dataset = tf.data.Dataset.from_tensor_slices((np.asarray(files.paths, dtype=object).astype(str), y))
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(files), seed=shuffle_seed, reshuffle_each_iteration=True)
    shape = (files.size, files.size, 3)

    def decode(path: tf.Tensor, label: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        pixels = tf.numpy_function(lambda p: files.pixels(p.decode("utf-8")), [path], tf.float32, stateful=False)
        return tf.ensure_shape(pixels, shape), label

    policy = tf.data.experimental.AutoShardPolicy
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = policy.OFF if already_sharded else policy.DATA
    dataset = dataset.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.batch(global_batch).prefetch(2).with_options(options)


def reading_error(exc: tf.errors.OpError) -> DataError | None:
    """The `DataError` a decoding step raised inside the pipeline, as one line (None for other failures)."""
    match = re.search(r"((?:cannot read image|image file|'[^\n]*?' is (?:not an image|empty)) .*?; remove or replace the file)",
                      str(exc))
    return DataError(match.group(1)) if match else None
