"""Whether an output matches another within a tolerance: the one rule of `edgeport-run verify` and of the
compatibility matrix (`runtime.compat`).

Outputs are compared as the runtime returns them: float32, dequantised where quantised. A difference of
exactly `atol` passes, so where `atol` is one quantisation step an engine that rounds one step the other way
still matches. Each float32 value is its real value rounded once (by at most half a unit in the last place),
so a difference may exceed `atol` by one unit in the last place of the largest value compared and still be
exactly `atol`; anything beyond that fails.
"""

from __future__ import annotations

import numpy as np


def largest_difference(got: np.ndarray, want: np.ndarray) -> float:
    """The largest |got - want| over every element (arrays of one shape): 0 when empty, inf where either
    holds a value that is not finite."""
    diff = np.abs(np.asarray(got, dtype=np.float64) - np.asarray(want, dtype=np.float64))
    if not diff.size:
        return 0.0
    if not np.all(np.isfinite(diff)):
        return float("inf")
    return float(np.max(diff))


def float32_rounding(got: np.ndarray, want: np.ndarray) -> float:
    """One unit in the last place of float32 at the largest finite |value| of either array: how far two
    float32 roundings can move a difference."""
    values = np.concatenate([np.ravel(np.asarray(got, dtype=np.float64)), np.ravel(np.asarray(want, dtype=np.float64))])
    finite = np.abs(values[np.isfinite(values)])
    largest = float(np.max(finite)) if finite.size else 0.0
    return float(np.spacing(np.float32(largest)))


def within_tolerance(got: np.ndarray, want: np.ndarray, atol: float) -> tuple[bool, float]:
    """(whether every element of `got` is within `atol` of `want`, the largest |difference|).

    Args:
        got, want: one output each, of one shape, as float values.
        atol: the largest absolute difference that still counts as the same answer.
    """
    largest = largest_difference(got, want)
    return largest <= atol + float32_rounding(got, want), largest
