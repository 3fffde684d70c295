"""An image bundle's preprocessing: the manifest's fields (size, interpolation, normalisation, dtype) and their checks.

Models from elsewhere (`edgeport-run import`) may scale pixels otherwise (`normalization`, `mean`, `std`)
or take them raw as uint8 (`dtype`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from edgeport.runtime.errors import ManifestError

INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "hamming", "box", "lanczos")
NORMALIZATIONS = ("mobilenet", "tf", "unit", "imagenet-caffe", "mean-std", "none")
PIXEL_DTYPES = ("float32", "uint8")


@dataclass(frozen=True)
class ImageSpec:
    """The checked image fields of `manifest.preprocessing`."""

    size: tuple[int, int]  # (height, width)
    interpolation: str  # one of INTERPOLATIONS
    normalization: str  # one of NORMALIZATIONS
    keep_aspect_ratio: bool
    mean: list[float] | None  # R, G, B in pixel units: `mean-std` only
    std: list[float] | None
    dtype: str  # one of PIXEL_DTYPES


def checked_image_spec(spec: Mapping[str, Any]) -> ImageSpec:
    """A manifest's image preprocessing dict → its `ImageSpec` (absent fields: nearest, none, rgb, float32).

    Raises:
        ManifestError: a field is missing, of the wrong type or not supported; the message names it.
    """
    size = spec.get("size")
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size)):
        raise ManifestError(f"manifest.preprocessing.size must be [height, width], got {size!r}")
    interpolation = spec.get("interpolation", "nearest")
    normalization = spec.get("normalization", "none")
    if spec.get("color_mode", "rgb") != "rgb":
        raise ManifestError(f"manifest.preprocessing.color_mode {spec.get('color_mode')!r} is not supported; use rgb")
    if interpolation not in INTERPOLATIONS:
        raise ManifestError(f"manifest.preprocessing.interpolation must be one of {', '.join(INTERPOLATIONS)}")
    if normalization not in NORMALIZATIONS:
        raise ManifestError(f"manifest.preprocessing.normalization must be one of {', '.join(NORMALIZATIONS)}")
    mean, std = _mean_std(spec) if normalization == "mean-std" else (None, None)
    dtype = spec.get("dtype", "float32")
    if dtype not in PIXEL_DTYPES or (dtype == "uint8" and normalization != "none"):
        raise ManifestError(f"manifest.preprocessing.dtype must be float32, or uint8 with normalization none; "
                            f"got {dtype!r} with {normalization!r}")
    return ImageSpec(size=(size[0], size[1]), interpolation=interpolation, normalization=normalization,
                     keep_aspect_ratio=bool(spec.get("keep_aspect_ratio", False)), mean=mean, std=std, dtype=dtype)


def _mean_std(spec: Mapping[str, Any]) -> tuple[list[float], list[float]]:
    """The `mean` and `std` of a `mean-std` spec: three numbers each (R, G, B), every std above 0."""
    def numbers(key: str) -> list[float]:
        value = spec.get(key)
        if not (isinstance(value, list) and len(value) == 3
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in value)):
            raise ManifestError(f"manifest.preprocessing.{key} must be three numbers (R, G, B), got {value!r}")
        return [float(v) for v in value]

    mean, std = numbers("mean"), numbers("std")
    if min(std) <= 0:
        raise ManifestError(f"manifest.preprocessing.std must be above 0, got {std}")
    return mean, std
