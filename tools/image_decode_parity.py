"""How far TensorFlow's decode + resize is from the runtime's Pillow preprocessing, on a folder of photos.

    python tools/image_decode_parity.py FOLDER [--size 224] [--interpolation bilinear]

Compares, photo by photo, the model-ready pixels of (a) `tf.io.decode_image` + `tf.image.resize` (what
`keras.utils.image_dataset_from_directory` does), (b) the same with `antialias=True`, and (c) Pillow inside
`tf.numpy_function` (edgeport's pipeline) against `edgeport.runtime.preprocess.ImagePreprocessor`; and times
one pass of each pipeline.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from edgeport.runtime.preprocess import ImagePreprocessor
from edgeport.train.images import ImageFiles, image_dataset

SUFFIXES = (".jpg", ".jpeg", ".png")


def tf_pixels(path: str, size: int, interpolation: str, antialias: bool) -> tf.Tensor:
    image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    image = tf.image.resize(image, (size, size), method=interpolation, antialias=antialias)
    return image / 127.5 - 1.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--interpolation", default="bilinear")
    args = parser.parse_args()
    paths = sorted(str(p) for p in args.folder.rglob("*") if p.suffix.lower() in SUFFIXES)
    device = ImagePreprocessor({"size": [args.size, args.size], "interpolation": args.interpolation, "normalization": "mobilenet"})
    reference = np.stack([device([p])[0] for p in paths])
    print(f"{len(paths)} photos, {args.size}x{args.size}, {args.interpolation}; differences in model-ready units "
          f"(1 pixel level = {1 / 127.5:.4f})")
    for antialias in (False, True):
        started = time.perf_counter()
        ds = tf.data.Dataset.from_tensor_slices(paths).map(
            lambda p: tf_pixels(p, args.size, args.interpolation, antialias), num_parallel_calls=tf.data.AUTOTUNE).batch(32)
        ours = np.concatenate([b.numpy() for b in ds])
        seconds = time.perf_counter() - started
        diff = np.abs(ours - reference)
        per_photo = diff.reshape(len(paths), -1).max(axis=1)
        print(f"TensorFlow decode+resize (antialias={antialias}): max {diff.max():.4f}, mean {diff.mean():.5f}, "
              f"median photo's max {np.median(per_photo):.4f}, photos within 1e-6: {(per_photo <= 1e-6).sum()}; {seconds:.2f} s")
    files = ImageFiles(tuple(paths), args.size, args.interpolation)
    started = time.perf_counter()
    ours = np.concatenate([x.numpy() for x, _ in image_dataset(files, np.zeros(len(paths), np.int64), 32, None)])
    seconds = time.perf_counter() - started
    print(f"Pillow in tf.numpy_function (edgeport): max {np.abs(ours - reference).max():.2e}; {seconds:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
