"""Representative data for calibration: one small protocol, an iterable of input batches.

Both calibrating converters read it: TFLite through `tflite_dataset` (what `representative_dataset` wants)
and ONNX Runtime through `OnnxCalibrationReader` (a `CalibrationDataReader`). Any source that yields
model-ready numpy batches plugs in. A model with several inputs takes batches that are mappings Keras
input name → array (TFLite's signature and `export.onnx` name the inputs as Keras does).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np

DEFAULT_SAMPLES = 300
DEFAULT_SEED = 0


@runtime_checkable
class RepresentativeData(Protocol):
    """Re-iterable: every `iter()` yields the same model-ready batches (numpy arrays, batch first)."""

    def __iter__(self) -> Iterator[np.ndarray]: ...


@dataclass(frozen=True)
class RepresentativeBatches:
    """A seeded sample of rows of `x` (an array, or a mapping input name → array), yielded `batch_size` at a time."""

    x: Any
    batch_size: int = 1

    def __iter__(self) -> Iterator[Any]:
        for start in range(0, len(self), self.batch_size):
            if isinstance(self.x, Mapping):
                yield {name: a[start : start + self.batch_size] for name, a in self.x.items()}
            else:
                yield self.x[start : start + self.batch_size]

    def __len__(self) -> int:
        return len(next(iter(self.x.values()))) if isinstance(self.x, Mapping) else len(self.x)


def representative_batches(
    x_train: np.ndarray | Mapping[str, np.ndarray], samples: int = DEFAULT_SAMPLES, seed: int = DEFAULT_SEED,
    batch_size: int = 1,
) -> RepresentativeBatches:
    """`samples` rows of the training inputs (an array, or a mapping input name → array, the same rows of
    each) drawn without replacement (all rows when there are fewer)."""
    if samples < 1:
        raise ValueError(f"calibration needs at least one sample, got {samples}")
    n = len(RepresentativeBatches(x_train))
    if n == 0:
        raise ValueError("calibration needs training data, got an empty array")
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(n, size=min(samples, n), replace=False))
    if isinstance(x_train, Mapping):
        return RepresentativeBatches({k: np.ascontiguousarray(np.asarray(a)[rows]) for k, a in x_train.items()}, batch_size)
    return RepresentativeBatches(np.ascontiguousarray(x_train[rows]), batch_size)


def tflite_dataset(data: Iterable[Any], dtype: type | None = None) -> Callable[[], Iterator[Any]]:
    """`TFLiteConverter.representative_dataset`: a callable giving a fresh iterator of one-input lists
    (or, for a model with several inputs, of mappings signature input name → batch)."""

    def generate() -> Iterator[Any]:
        for batch in data:
            if isinstance(batch, Mapping):
                yield {name: a if dtype is None else a.astype(dtype) for name, a in batch.items()}
            else:
                yield [batch if dtype is None else batch.astype(dtype)]

    return generate


def onnx_reader(data: Iterable[Any], input_name: str | Sequence[str]) -> "object":
    """An `onnxruntime.quantization.CalibrationDataReader` over `data`, feeding `input_name`; for batches
    that are mappings, each key feeds the ONNX input of that name (`input_name` lists the file's inputs)."""
    from onnxruntime.quantization import CalibrationDataReader

    class OnnxCalibrationReader(CalibrationDataReader):
        def __init__(self) -> None:
            self.rewind()

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self._batches, None)
            if batch is None:
                return None
            return _by_onnx_name(batch, input_name) if isinstance(batch, Mapping) else {input_name: batch}

        def rewind(self) -> None:
            self._batches = iter(data)

    return OnnxCalibrationReader()


def _by_onnx_name(batch: Mapping[str, np.ndarray], names: str | Sequence[str]) -> dict[str, np.ndarray]:
    """A batch keyed by Keras input names, keyed by the ONNX file's input names (`tokens` may be `tokens:0`)."""
    names = [names] if isinstance(names, str) else list(names)
    by_bare = {name.split(":")[0]: name for name in names}
    return {by_bare.get(key.split(":")[0], key): value for key, value in batch.items()}
