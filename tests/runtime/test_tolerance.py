"""One rule for "within tolerance" (`runtime.tolerance`): `edgeport-run verify` and the compatibility matrix
judge a difference of exactly one quantisation step alike, and a bit more alike."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pytest

from edgeport.runtime.compat import matrix
from edgeport.runtime.golden import Golden
from edgeport.runtime.manifest import TensorSpec
from edgeport.runtime.quant import dequantize
from edgeport.runtime.tolerance import largest_difference, within_tolerance
from edgeport.runtime.verify import DIFFERS, MATCHES, compare

SCALE, ZERO_POINT = float(np.float32(1 / 255)), -128  # not a power of two: float32 rounds its multiples
LEVELS = np.arange(-128, 127)  # every int8 value with a next one


def one_step_apart(extra: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(got, want): every int8 output level and the next one, dequantised to float32 as the runtime does,
    `got` moved by `extra` more."""
    want = dequantize(LEVELS, SCALE, ZERO_POINT)[None, :]
    got = dequantize(LEVELS + 1, SCALE, ZERO_POINT)[None, :] + np.float32(extra)
    return got, want


@dataclass
class OneOutputModel:
    """What `verify.compare` asks of a model: its input specs and `run`."""

    output: np.ndarray
    input_specs = [TensorSpec("x", [None, 1], "float32")]

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"y": self.output}


def verify_verdict(got: np.ndarray, want: np.ndarray) -> str:
    golden = Golden({"x": np.zeros((1, 1), np.float32)}, {"y": want}, atol=SCALE)
    return compare("tflite-int8", OneOutputModel(got), golden, {"engine": "test", "engine_version": "0"}).verdict


def compat_matches(got: np.ndarray, want: np.ndarray) -> bool:
    probe = matrix.Probe("b", "t", "tflite-int8", "litert", "x86_64", None, "1", "runs", tolerance=SCALE,
                         outputs=[got.tolist()])
    return matrix.agreement(probe, replace(probe, outputs=[want.tolist()]))[0]


def test_exactly_one_step_passes_in_verify_and_compat():
    got, want = one_step_apart()
    assert largest_difference(got, want) > SCALE  # float32 rounding: some one-step differences come out larger
    assert within_tolerance(got, want, SCALE)[0]
    assert verify_verdict(got, want) == MATCHES
    assert compat_matches(got, want)


@pytest.mark.parametrize("extra", [1e-6, SCALE / 100])
def test_a_bit_more_than_one_step_fails_in_verify_and_compat(extra):
    got, want = one_step_apart(extra)
    assert not within_tolerance(got, want, SCALE)[0]
    assert verify_verdict(got, want) == DIFFERS
    assert not compat_matches(got, want)


def test_non_finite_outputs_never_match():
    want = np.zeros((1, 2), np.float32)
    assert within_tolerance(np.array([[0.0, np.nan]], np.float32), want, 1.0) == (False, float("inf"))
    assert within_tolerance(np.zeros((0, 2)), np.zeros((0, 2)), 0.0) == (True, 0.0)
