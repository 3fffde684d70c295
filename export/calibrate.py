"""Representative data for calibration: one small protocol, an iterable of input batches.

Both calibrating converters read it: TFLite through `tflite_dataset` (what `representative_dataset` wants)
and ONNX Runtime through `OnnxCalibrationReader` (a `CalibrationDataReader`). Any source that yields
model-ready numpy batches plugs in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Protocol, runtime_checkable

import numpy as np

DEFAULT_SAMPLES = 300
DEFAULT_SEED = 0


@runtime_checkable
class RepresentativeData(Protocol):
    """Re-iterable: every `iter()` yields the same model-ready batches (numpy arrays, batch first)."""

    def __iter__(self) -> Iterator[np.ndarray]: ...


@dataclass(frozen=True)
class RepresentativeBatches:
    """A seeded sample of rows of `x`, yielded `batch_size` at a time."""

    x: np.ndarray
    batch_size: int = 1

    def __iter__(self) -> Iterator[np.ndarray]:
        for start in range(0, len(self.x), self.batch_size):
            yield self.x[start : start + self.batch_size]

    def __len__(self) -> int:
        return len(self.x)


def representative_batches(
    x_train: np.ndarray, samples: int = DEFAULT_SAMPLES, seed: int = DEFAULT_SEED, batch_size: int = 1
) -> RepresentativeBatches:
    """`samples` rows of the training inputs drawn without replacement (all rows when there are fewer)."""
    if samples < 1:
        raise ValueError(f"calibration needs at least one sample, got {samples}")
    if len(x_train) == 0:
        raise ValueError("calibration needs training data, got an empty array")
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(x_train), size=min(samples, len(x_train)), replace=False))
    return RepresentativeBatches(np.ascontiguousarray(x_train[rows]), batch_size)


def tflite_dataset(data: Iterable[np.ndarray], dtype: type | None = None) -> Callable[[], Iterator[list[np.ndarray]]]:
    """`TFLiteConverter.representative_dataset`: a callable giving a fresh iterator of one-input lists."""

    def generate() -> Iterator[list[np.ndarray]]:
        for batch in data:
            yield [batch if dtype is None else batch.astype(dtype)]

    return generate


def onnx_reader(data: Iterable[np.ndarray], input_name: str) -> "object":
    """An `onnxruntime.quantization.CalibrationDataReader` over `data`, feeding `input_name`."""
    from onnxruntime.quantization import CalibrationDataReader

    class OnnxCalibrationReader(CalibrationDataReader):
        def __init__(self) -> None:
            self.rewind()

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self._batches, None)
            return None if batch is None else {input_name: batch}

        def rewind(self) -> None:
            self._batches = iter(data)

    return OnnxCalibrationReader()
