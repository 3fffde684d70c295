"""The samples a user brings with their own model: `x` (model-ready inputs; `x_<input name>` for each of
several inputs) and optionally `y` (class indices of the model's first probability output).

A seeded part calibrates the int8 variants, the rest checks every variant against Keras (parity): a
quarter of the samples, at most `--calibration-samples`, at least one, drawn with the seed; the parity
samples keep the file's order (the golden samples are the first of them).
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from edgeport.export.errors import ExportError
from edgeport.export.model_io import ModelIO

CALIBRATION_FRACTION = 0.25
MIN_SAMPLES = 2  # one to calibrate with, one to check on


@dataclass(frozen=True)
class ParityData:
    """What the variant loop calibrates and checks with; inputs are lists in the Keras model's order."""

    x_calibration: list[np.ndarray]
    x_test: list[np.ndarray]
    y_test: np.ndarray | None  # None: no labels
    x_agreement: np.ndarray | None = None  # a larger unlabelled set (single-input bundles of edgeport-train)
    calibration_source: str = "the training set"
    classifier: bool = False  # every output is a probability output by construction (edgeport-train's models)


def _arrays(source: str | os.PathLike | Mapping[str, Any]) -> tuple[dict[str, np.ndarray], str]:
    if isinstance(source, Mapping):
        return {str(k): np.asarray(v) for k, v in source.items()}, "the samples"
    path = Path(source)
    if not path.is_file():
        raise ExportError(f"samples file {path} does not exist; pass an .npz with x (or x_<input name>) and optionally y")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {k: archive[k] for k in archive.files}, path.name
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ExportError(f"{path} is not a readable .npz archive ({type(exc).__name__}: {exc}); write it with "
                          "numpy.savez(path, x=..., y=...)") from None


def _inputs(arrays: dict[str, np.ndarray], io: ModelIO, where: str) -> list[np.ndarray]:
    keys = [k for k in arrays if k != "y"]
    wanted = [f"x_{name}" for name in io.inputs]
    if len(io.inputs) == 1 and "x" in arrays:
        chosen = ["x"]
    elif all(k in arrays for k in wanted):
        chosen = wanted
    else:
        expected = "x" if len(io.inputs) == 1 else ", ".join(wanted)
        raise ExportError(f"{where} holds {', '.join(keys) or 'no arrays'}; the model's inputs "
                          f"({', '.join(io.inputs)}) need {expected} (and optionally y)")
    extra = [k for k in keys if k not in chosen]
    if extra:
        raise ExportError(f"{where}: {', '.join(extra)} match no input of the model ({', '.join(io.inputs)}); "
                          f"name the arrays {', '.join(chosen)}")
    xs = []
    for key, name, shape, dtype in zip(chosen, io.inputs, io.input_shapes, io.input_dtypes):
        x = arrays[key]
        if x.dtype.kind not in "biuf":
            raise ExportError(f"{where}: {key} holds {x.dtype}, input {name!r} takes numbers ({dtype})")
        if x.ndim != len(shape) + 1 or any(d is not None and g != d for g, d in zip(x.shape[1:], shape)):
            want = ", ".join("N" if i == 0 else "any" if d is None else str(d) for i, d in enumerate((None, *shape)))
            raise ExportError(f"{where}: {key} has shape {x.shape}, input {name!r} takes ({want})")
        if np.dtype(dtype).kind in "iu" and x.dtype.kind == "f" and not np.array_equal(x, np.round(x)):
            raise ExportError(f"{where}: {key} holds fractions, input {name!r} takes integers ({dtype})")
        xs.append(np.ascontiguousarray(x.astype(dtype, copy=False)))
    if len({len(x) for x in xs}) != 1:
        raise ExportError(f"{where}: the inputs hold different numbers of samples ({[len(x) for x in xs]}); "
                          "each must hold one row per sample")
    return xs


def _labels(arrays: dict[str, np.ndarray], n: int, where: str) -> np.ndarray | None:
    if "y" not in arrays:
        return None
    y = arrays["y"]
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or len(y) != n or y.dtype.kind not in "iuf" or not np.array_equal(y, np.round(y)):
        raise ExportError(f"{where}: y must hold one class index per sample ({n} integers), got shape {y.shape} "
                          f"of {y.dtype}")
    return y.astype(np.int64)


def read_samples(source: str | os.PathLike | Mapping[str, Any], io: ModelIO, calibration_samples: int,
                 seed: int = 0) -> ParityData:
    """Check the samples against the model's inputs and split them (see the module doc)."""
    arrays, where = _arrays(source)
    xs = _inputs(arrays, io, where)
    n = len(xs[0])
    if n < MIN_SAMPLES:
        raise ExportError(f"{where} holds {n} sample(s); export needs at least {MIN_SAMPLES} (some to calibrate "
                          "int8 with, the rest to check every variant on)")
    y = _labels(arrays, n, where)
    count = max(1, min(calibration_samples, int(n * CALIBRATION_FRACTION)))
    chosen = np.zeros(n, dtype=bool)
    chosen[np.random.default_rng(seed).choice(n, size=count, replace=False)] = True
    return ParityData([x[chosen] for x in xs], [x[~chosen] for x in xs], None if y is None else y[~chosen],
                      calibration_source=f"{where} ({count} of {n} samples, seed {seed}; the other {n - count} check parity)")
