"""Affine quantisation of model inputs and outputs, with the model's own parameters.

`real = scale * (q - zero_point)`; values saturate at the integer type's limits. Where a value
lands exactly between two integers the engines disagree, so the runtime rounds as the engine in
use would if it quantised the input itself (`ROUNDINGS`; measured, see tests/runtime/test_runtime_quant.py):

- "reference": TFLite's reference QUANTIZE kernel (tflite-runtime 2.14 on x86-64): x / scale in
  double precision, ties away from zero.
- "multiply-away": tflite-runtime 2.14 on 32-bit Arm: x * (1 / scale) in float32, ties away from zero.
- "xnnpack": LiteRT's XNNPACK kernel (ai-edge-litert, tf.lite; tflite-runtime 2.14 on arm64):
  x * (1 / scale) in float32, ties to even.
- "onnx": ONNX QuantizeLinear: x / scale in float32, ties to even.
"""

from __future__ import annotations

import functools

import numpy as np

from edgeport.runtime.errors import DtypeError, ValueRangeError
from edgeport.runtime.manifest import TensorSpec

QUANTIZED_DTYPES = ("int8", "uint8", "int16")
ROUNDINGS = ("reference", "multiply-away", "xnnpack", "onnx")


def is_quantized(spec: TensorSpec) -> bool:
    """True when the tensor holds integers standing for real numbers (it has a scale)."""
    return spec.dtype in QUANTIZED_DTYPES and spec.quantized


def quantize(x: np.ndarray, scale: float, zero_point: int, dtype: str | np.dtype,
             rounding: str = "reference") -> np.ndarray:
    """Real values → integers of `dtype`: round(x / scale) + zero_point, saturated.
    `ValueRangeError` when x holds NaN or inf."""
    dtype = np.dtype(dtype)
    if dtype.kind not in "iu":
        raise DtypeError(f"cannot quantise to {dtype}: quantised tensors hold integers")
    if not scale:
        raise DtypeError("cannot quantise with scale 0: the tensor has no quantisation parameters")
    with np.errstate(over="ignore"):  # a quotient past float32's range saturates like any other
        rounded = _scale_and_round(x, float(scale), rounding)  # the one pass over x; the rest stay in cache
    low, high = rounded.min(), rounded.max()  # NaN reaches both, -inf the minimum, +inf the maximum
    if not (np.isfinite(low) and np.isfinite(high)) and not np.isfinite(x).all():
        raise ValueRangeError("cannot quantise NaN or inf; replace them with finite values")
    # Adding the zero point in float32 is exact for every value that survives the clip (|q| < 2**24);
    # larger ones saturate either way.
    zero_point = int(zero_point)
    rounded += rounded.dtype.type(zero_point)
    info = np.iinfo(dtype)
    if low + zero_point < info.min or high + zero_point > info.max:  # monotonic: the extremes decide
        np.clip(rounded, info.min, info.max, out=rounded)
    q = rounded.astype(dtype)
    return q.reshape(np.shape(x)) if np.ndim(x) == 0 else q


def _scale_and_round(x: np.ndarray, scale: float, rounding: str) -> np.ndarray:
    """round(x / scale) as the engine computes it, in a fresh float array (worked on in place)."""
    if rounding == "reference":
        scaled = np.atleast_1d(np.asarray(x, dtype=np.float64)) / scale
        rounded = np.abs(scaled)
        rounded += 0.5
        np.floor(rounded, out=rounded)
        return np.copysign(rounded, scaled, out=rounded)  # ties away from zero
    if rounding == "multiply-away":
        scaled = np.multiply(np.atleast_1d(np.asarray(x, dtype=np.float32)), np.float32(1.0) / np.float32(scale))
        rounded = np.abs(scaled)
        rounded += np.float32(0.5)
        np.floor(rounded, out=rounded)
        return np.copysign(rounded, scaled, out=rounded)
    if rounding == "xnnpack":
        rounded = np.multiply(np.atleast_1d(np.asarray(x, dtype=np.float32)), np.float32(1.0) / np.float32(scale))
        return np.rint(rounded, out=rounded)
    if rounding == "onnx":
        rounded = np.divide(np.atleast_1d(np.asarray(x, dtype=np.float32)), np.float32(scale))
        return np.rint(rounded, out=rounded)
    raise ValueError(f"rounding must be one of {ROUNDINGS}, got {rounding!r}")


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Integers → real values as float32: scale * (q - zero_point) (exact before the one rounding)."""
    return (float(scale) * (np.asarray(q, dtype=np.float64) - int(zero_point))).astype(np.float32)


def to_engine(x: np.ndarray, spec: TensorSpec, rounding: str = "reference") -> np.ndarray:
    """A float batch for a quantised input becomes integers; one already in the input's dtype passes."""
    if x.dtype == np.dtype(spec.dtype):
        return x
    return quantize(x, spec.scale, spec.zero_point or 0, spec.dtype, rounding)


@functools.lru_cache(maxsize=64)
def _byte_table(scale: float, zero_point: int, dtype: str) -> np.ndarray:
    """`dequantize` of every value of a one-byte integer type, indexed by its byte (one lookup per value)."""
    values = np.arange(256, dtype=np.uint8).view(dtype)
    return dequantize(values, scale, zero_point)


def from_engine(y: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """An engine output as float32: dequantised when quantised, floats widened, other integers kept."""
    if is_quantized(spec):
        if y.dtype.itemsize == 1 and y.dtype.kind in "iu":  # int8/uint8: the same values, from a table
            return _byte_table(spec.scale, spec.zero_point or 0, y.dtype.str)[y.view(np.uint8)]
        return dequantize(y, spec.scale, spec.zero_point or 0)
    if y.dtype.kind == "f":
        return y.astype(np.float32, copy=False)
    return y
