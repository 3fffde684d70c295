"""Check inputs as each file takes them: the normalised tensors the checks hold, or, for a file that takes
camera pixels (its normalisation inside the graph: `export.targets.phone_edges`), the pixels they came from."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from edgeport.runtime.manifest import Artifact
from edgeport.runtime.pixel_table import NearestPixels, nearest_pixels, takes_pixels
from edgeport.runtime.preprocess import ImagePreprocessor


class FileInputs:
    """`inputs(artifact, x)`: the batch `x` (normalised, as training preprocessed it) as `artifact` takes it."""

    def __init__(self, task: Mapping[str, Any]):
        self.image = task.get("kind") == "image"
        self.preprocessing = dict(task.get("preprocessing") or {})
        self._preprocessor: ImagePreprocessor | None = None
        self._nearest: NearestPixels | None = None
        self._last: tuple[Any, np.ndarray] | None = None  # (batch, its pixels): each check set is inverted once

    def takes_pixels(self, artifact: Artifact) -> bool:
        return self.image and len(artifact.inputs) == 1 and takes_pixels(artifact.inputs[0])

    def __call__(self, artifact: Artifact, x: Any) -> Any:
        if x is None or not self.takes_pixels(artifact) or np.asarray(x).dtype == np.uint8:
            return x
        pixels = self.pixels(x)
        if pixels is None:
            raise ValueError(f"{artifact.key} takes pixels, but normalisation "
                             f"{self.preprocessing.get('normalization')!r} has no per-channel inverse")
        return pixels

    def pixels(self, x: Any) -> np.ndarray | None:
        """The uint8 pixels a normalised image batch came from (`runtime.pixel_table.NearestPixels`), or None
        where the normalisation has no per-channel inverse (it reorders channels)."""
        if self._last is not None and self._last[0] is x:
            return self._last[1]
        if self._nearest is None:
            self._nearest = nearest_pixels(self.normalized)
            if self._nearest is None:
                return None
        pixels = self._nearest(np.asarray(x))
        self._last = (x, pixels)
        return pixels

    def normalized(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 pixels normalised by the runtime's preprocessing, as training normalised them."""
        if self._preprocessor is None:
            self._preprocessor = ImagePreprocessor(self.preprocessing)
        return self._preprocessor.normalized(pixels)

    def from_pixels(self, artifact: Artifact, pixels: np.ndarray) -> np.ndarray:
        """uint8 pixels as `artifact` takes them: as they are, or normalised by the runtime's preprocessing."""
        return pixels if self.takes_pixels(artifact) else self.normalized(pixels)
