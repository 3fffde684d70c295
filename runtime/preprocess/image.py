"""Images → the model's input batch: pixels decoded as `keras.utils.load_img` does (`preprocess.decode`),
then scaled as training scaled them (`mobilenet.preprocess_input` and the other `NORMALIZATIONS`)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from edgeport.runtime.errors import EmptyBatchError, ManifestError
from edgeport.runtime.preprocess.decode import load_pixels
from edgeport.runtime.preprocess.image_spec import checked_image_spec

CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)  # Keras' `imagenet_utils.preprocess_input(mode="caffe")`


def normalize(pixels: np.ndarray, normalization: str, mean: Sequence[float] | None = None,
              std: Sequence[float] | None = None) -> np.ndarray:
    """0..255 RGB pixels (float32, channels last) → the model's input scale.

    `mobilenet` (alias `tf`): x / 127.5 - 1, as `mobilenet.preprocess_input`; `unit`: x / 255;
    `imagenet-caffe`: RGB → BGR less the ImageNet mean, as `preprocess_input(mode="caffe")`;
    `mean-std`: (x - mean) / std per channel, both in pixel units; `none`: unchanged."""
    if normalization in ("mobilenet", "tf"):
        pixels = pixels / np.float32(127.5)
        pixels -= np.float32(1.0)
    elif normalization == "unit":
        pixels = pixels / np.float32(255.0)
    elif normalization == "imagenet-caffe":
        pixels = pixels[..., ::-1] - np.asarray(CAFFE_MEAN_BGR, dtype=np.float32)
    elif normalization == "mean-std":
        pixels = (pixels - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    return pixels


class ImagePreprocessor:
    """Images → float32 (n, height, width, 3), normalised as in training; or, with `"dtype": "uint8"`
    (normalization `none` only), the raw uint8 pixels a model with uint8 input takes as they are.

    `spec` is the manifest's preprocessing dict; its checked fields are `self.image_spec`, each also
    an attribute of its own (`size`, `interpolation`, `normalization`, ...)."""

    def __init__(self, spec: dict[str, Any], input_shape: Sequence[int | None] | None = None):
        self.image_spec = checked_image_spec(spec)
        size = self.image_spec.size
        if input_shape is not None and len(input_shape) == 4 and None not in input_shape[1:3] \
                and tuple(input_shape[1:3]) != size:
            raise ManifestError(
                f"manifest.preprocessing.size is {list(size)} but the model takes {list(input_shape[1:3])}; "
                "re-export the bundle"
            )

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the model's input."""
        return self.image_spec.size

    @property
    def interpolation(self) -> str:
        return self.image_spec.interpolation

    @property
    def normalization(self) -> str:
        return self.image_spec.normalization

    @property
    def keep_aspect_ratio(self) -> bool:
        return self.image_spec.keep_aspect_ratio

    @property
    def mean(self) -> list[float] | None:
        return self.image_spec.mean

    @property
    def std(self) -> list[float] | None:
        return self.image_spec.std

    @property
    def dtype(self) -> str:
        return self.image_spec.dtype

    def __call__(self, items: Sequence[Any]) -> np.ndarray:
        return self.normalized(self.pixels(items))

    def pixels(self, items: Sequence[Any], lut: Sequence[int] | None = None) -> np.ndarray:
        """Images → their (n, height, width, 3) pixels before normalisation: uint8 (each mapped through
        `lut` when given, see `load_pixels`), or float32 when an item is a float array."""
        if not len(items):
            raise EmptyBatchError("the batch is empty: pass at least one image")
        s = self.image_spec
        pixels = [load_pixels(item, s.size, s.interpolation, s.keep_aspect_ratio, lut=lut) for item in items]
        if any(p.dtype != np.uint8 for p in pixels):
            return np.stack([p.astype(np.float32, copy=False) for p in pixels])
        return pixels[0][None] if len(pixels) == 1 else np.stack(pixels)

    def normalized(self, pixels: np.ndarray) -> np.ndarray:
        """`pixels` (any numeric dtype, values 0..255) → float32, normalised as in training (uint8 for a
        `dtype: uint8` spec)."""
        s = self.image_spec
        if s.dtype == "uint8":  # a uint8 input takes the pixels as they are
            return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)
        return normalize(pixels.astype(np.float32, copy=False), s.normalization, s.mean, s.std)
