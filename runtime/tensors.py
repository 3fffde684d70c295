"""Checking a batch against a model input, and running engines fixed at one batch size."""

from __future__ import annotations

import functools
from typing import Callable

import numpy as np

from edgeport.runtime import quant
from edgeport.runtime.errors import DtypeError, EmptyBatchError, ShapeError, ValueRangeError
from edgeport.runtime.manifest import TensorSpec

SUPPORTED = ("float32", "float16", "float64", "int8", "uint8", "int16", "int32", "int64")


def show_shape(shape: list[int | None] | tuple[int, ...]) -> str:
    return "(" + ", ".join("batch" if i == 0 and d is None else "any" if d is None else str(d)
                           for i, d in enumerate(shape)) + ")"


def as_array(x: object, spec: TensorSpec) -> np.ndarray:
    try:
        array = np.asarray(x)
    except ValueError as exc:  # ragged nested lists
        raise ShapeError(f"input {spec.name!r}: the items have different shapes ({exc}); "
                         f"every item must have shape {show_shape(spec.shape[1:])}") from None
    if array.dtype.kind not in "biuf":
        raise DtypeError(f"input {spec.name!r} takes numbers ({spec.dtype}), got an array of {array.dtype}")
    return array


def check_shape(x: np.ndarray, spec: TensorSpec) -> None:
    """Rank, fixed dimensions and a non-empty batch."""
    want = spec.shape
    if not want:
        raise ShapeError(f"input {spec.name!r} is a scalar (rank 0), so it has no batch axis: "
                         "use Model.run(feeds), which feeds tensors exactly as the model declares them")
    if x.ndim != len(want):
        hint = "; for a single item add a batch axis (x[None])" if x.ndim == len(want) - 1 else ""
        raise ShapeError(f"input {spec.name!r} takes shape {show_shape(want)} (rank {len(want)}), "
                         f"got shape {x.shape} (rank {x.ndim}){hint}")
    if x.shape[0] == 0:
        raise EmptyBatchError(f"input {spec.name!r}: the batch is empty; pass at least one item")
    for axis, (got, expected) in enumerate(zip(x.shape[1:], want[1:]), start=1):
        if expected is not None and got != expected:
            raise ShapeError(f"input {spec.name!r} takes shape {show_shape(want)}, got {x.shape}: "
                             f"axis {axis} is {got}, the model needs {expected}")


def check_declared_shape(x: np.ndarray, spec: TensorSpec) -> None:
    """The shape exactly as the model declares it: same rank, every fixed dimension equal (`Model.run`)."""
    want = spec.shape
    if x.ndim != len(want) or any(d is not None and g != d for g, d in zip(x.shape, want)):
        declared = "(" + ", ".join("any" if d is None else str(d) for d in want) + ")"
        raise ShapeError(f"input {spec.name!r} is declared with shape {declared} (rank {len(want)}), got shape "
                         f"{x.shape}; Model.run feeds tensors exactly as given, with no batch axis added")


def to_engine_dtype(x: np.ndarray, spec: TensorSpec, id_range: tuple[int, int | None] | None,
                    rounding: str = "reference") -> np.ndarray:
    """Convert a checked batch to what the engine takes: token ids stay integers (range-checked),
    floats are checked for NaN/inf and quantised when the input is quantised. A float input of a
    model whose vocabulary is known (`id_range`: a text bundle) takes token ids as floats: integer
    ids are converted, and range-checked as for an integer input."""
    if spec.dtype not in SUPPORTED:
        raise DtypeError(f"input {spec.name!r} has element type {spec.dtype}, which edgeport's runtime does not feed")
    target = np.dtype(spec.dtype)
    if x.dtype.kind == "b":
        raise DtypeError(f"input {spec.name!r} takes {spec.dtype}, got booleans")
    if quant.is_quantized(spec):
        if x.dtype == target:
            return x  # already quantised with the model's parameters
        x = x.astype(np.float32, copy=False)
        try:
            return quant.to_engine(x, spec, rounding)  # checks for NaN and inf as it goes
        except ValueRangeError:
            check_finite(x, spec)  # says where
            raise
    if target.kind in "iu":
        if x.dtype.kind == "f":
            raise DtypeError(f"input {spec.name!r} takes integer token ids ({spec.dtype}), got {x.dtype}; "
                             "token ids must be integers (e.g. numpy int32)")
        check_ids(x, spec, id_range)
        return x.astype(target, copy=False)
    if id_range is not None and x.dtype.kind in "iu":
        check_ids(x, spec, id_range)
    x = x.astype(target, copy=False)
    check_finite(x, spec)
    return x


def check_finite(x: np.ndarray, spec: TensorSpec) -> None:
    # Two fast reductions and no temporary: NaN reaches both, -inf the minimum, +inf the maximum.
    if x.dtype.kind != "f" or not x.size or (np.isfinite(x.min()) and np.isfinite(x.max())):
        return
    bad = ~np.isfinite(x)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueRangeError(f"input {spec.name!r} holds NaN or inf (first at index {where}: {x[where]}); "
                              "replace them with finite values")


@functools.lru_cache(maxsize=16)
def _integer_range(dtype: str) -> tuple[int, int]:
    info = np.iinfo(dtype)
    return int(info.min), int(info.max) + 1


def check_ids(x: np.ndarray, spec: TensorSpec, id_range: tuple[int, int | None] | None) -> None:
    """Token ids within [low, high) when the vocabulary is known, else within the input's integer type
    (a float input with no known upper bound: any id at or above `low`)."""
    type_low, type_high = _integer_range(spec.dtype) if np.dtype(spec.dtype).kind in "iu" else (None, None)
    low, high = id_range if id_range is not None else (type_low, type_high)
    high = type_high if high is None else high
    if high is None:
        high = int(x.max()) + 1 if x.size else 0
    if not x.size or (x.min() >= low and x.max() < high):  # two reductions: the common case, fast
        return
    bad = (x < low) | (x >= high)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueRangeError(f"input {spec.name!r}: token id {int(x[where])} at index {where} is outside the "
                              f"vocabulary range [{low}, {high}); ids must come from the bundle's preprocessing")


def make_feeder(spec: TensorSpec, id_range: tuple[int, int | None] | None,
                rounding: str = "reference") -> Callable[[object], np.ndarray]:
    """`as_array` + `check_shape` + `to_engine_dtype` for one input, with the checks of the common case
    (an ndarray of the right shape) prepared once; anything else takes the general path and its errors."""

    def general(x: object) -> np.ndarray:
        array = as_array(x, spec)
        check_shape(array, spec)
        return to_engine_dtype(array, spec, id_range, rounding)

    tail = tuple(spec.shape[1:])
    if spec.dtype not in SUPPORTED or not spec.shape or None in tail:
        return general
    ndim, target = len(spec.shape), np.dtype(spec.dtype)

    if quant.is_quantized(spec) or target.kind == "f":
        def feed_numbers(x: object) -> np.ndarray:
            if type(x) is np.ndarray and x.dtype.kind in "iuf" and x.ndim == ndim and x.shape[0] and x.shape[1:] == tail:
                return to_engine_dtype(x, spec, id_range, rounding)
            return general(x)

        return feed_numbers

    type_low, type_high = _integer_range(spec.dtype)
    low, high = id_range if id_range is not None else (type_low, type_high)
    high = type_high if high is None else high

    def feed_ids(x: object) -> np.ndarray:
        if (type(x) is np.ndarray and x.dtype.kind in "iu" and x.ndim == ndim and x.shape[0] and x.shape[1:] == tail
                and x.size and x.min() >= low and x.max() < high):
            return x.astype(target, copy=False)
        return general(x)

    return feed_ids


def run_batched(feeds: list[np.ndarray], specs: list[TensorSpec],
                run: Callable[[list[np.ndarray]], list[np.ndarray]]) -> list[np.ndarray]:
    """Run the whole batch at once when the batch dimension is free; otherwise in chunks of the
    engine's fixed batch size (one by one for batch 1), padding the last chunk and trimming after."""
    n = feeds[0].shape[0]
    if any(f.shape[0] != n for f in feeds):
        raise ShapeError(f"all inputs must hold the same number of items, got {[f.shape[0] for f in feeds]}; "
                         "for a model whose inputs have no batch axis or differ in their leading size, use "
                         "Model.run(feeds), which feeds tensors exactly as the model declares them")
    fixed = {s.shape[0] for s in specs if s.shape and s.shape[0] is not None}
    if not fixed:
        return run(feeds)
    size = fixed.pop()
    parts: list[list[np.ndarray]] = []
    for start in range(0, n, size):
        chunk = [f[start:start + size] for f in feeds]
        short = size - chunk[0].shape[0]
        if short:
            chunk = [np.concatenate([c, np.repeat(c[-1:], short, axis=0)]) for c in chunk]
        out = run(chunk)
        parts.append([o[: size - short] for o in out])
    return [np.concatenate(column) for column in zip(*parts)]
