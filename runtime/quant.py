"""Affine quantisation of model inputs and outputs, with the model's own parameters.

`real = scale * (q - zero_point)`; values saturate at the integer type's limits. Where a value
lands exactly between two integers the engines disagree, so the runtime rounds as the engine in
use would if it quantised the input itself (`ROUNDINGS`; measured, see tests/runtime/test_runtime_quant.py):

- "reference": TFLite's reference QUANTIZE kernel (tflite-runtime 2.14): x / scale in double
  precision, ties away from zero.
- "xnnpack": LiteRT's XNNPACK kernel (ai-edge-litert, tf.lite): x * (1 / scale) in float32, ties to even.
- "onnx": ONNX QuantizeLinear: x / scale in float32, ties to even.
"""

from __future__ import annotations

import numpy as np

from runtime.errors import DtypeError
from runtime.manifest import TensorSpec

QUANTIZED_DTYPES = ("int8", "uint8", "int16")
ROUNDINGS = ("reference", "xnnpack", "onnx")


def is_quantized(spec: TensorSpec) -> bool:
    """True when the tensor holds integers standing for real numbers (it has a scale)."""
    return spec.dtype in QUANTIZED_DTYPES and spec.quantized


def quantize(x: np.ndarray, scale: float, zero_point: int, dtype: str | np.dtype,
             rounding: str = "reference") -> np.ndarray:
    """Real values → integers of `dtype`: round(x / scale) + zero_point, saturated."""
    dtype = np.dtype(dtype)
    if dtype.kind not in "iu":
        raise DtypeError(f"cannot quantise to {dtype}: quantised tensors hold integers")
    if not scale:
        raise DtypeError("cannot quantise with scale 0: the tensor has no quantisation parameters")
    if rounding == "reference":
        scaled = np.asarray(x, dtype=np.float64) / float(scale)
        rounded = np.sign(scaled) * np.floor(np.abs(scaled) + 0.5)
    elif rounding == "xnnpack":
        rounded = np.rint(np.asarray(x, dtype=np.float32) * (np.float32(1.0) / np.float32(scale)))
    elif rounding == "onnx":
        rounded = np.rint(np.asarray(x, dtype=np.float32) / np.float32(scale))
    else:
        raise ValueError(f"rounding must be one of {ROUNDINGS}, got {rounding!r}")
    info = np.iinfo(dtype)
    return np.clip(rounded.astype(np.float64) + int(zero_point), info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Integers → real values as float32: scale * (q - zero_point) (exact before the one rounding)."""
    return (float(scale) * (np.asarray(q, dtype=np.float64) - int(zero_point))).astype(np.float32)


def to_engine(x: np.ndarray, spec: TensorSpec, rounding: str = "reference") -> np.ndarray:
    """A float batch for a quantised input becomes integers; one already in the input's dtype passes."""
    if x.dtype == np.dtype(spec.dtype):
        return x
    return quantize(x, spec.scale, spec.zero_point or 0, spec.dtype, rounding)


def from_engine(y: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """An engine output as float32: dequantised when quantised, floats widened, other integers kept."""
    if is_quantized(spec):
        return dequantize(y, spec.scale, spec.zero_point or 0)
    if y.dtype.kind == "f":
        return y.astype(np.float32, copy=False)
    return y
