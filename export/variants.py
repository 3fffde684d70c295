"""The variants edgeport exports, as one table: a row per variant, with its converter settings and tolerance.

The keys, files and order are the runtime's (`runtime.variants`); a row here adds, by key, what export
needs. Adding a variant is a row there and a row here; `export.tflite` and `export.onnx` read the settings,
`export.validate` the tolerance. The converters' selective quantisation is an option any row can take: `float_layers`
(Keras layer names whose ops stay in float; `export.tflite.selective_quantized`, `export.onnx.nodes_of_layers`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

from edgeport.runtime.variants import (
    FORMATS, ONNX_DYNAMIC_INT8, ONNX_FP32, ONNX_STATIC_INT8, TFLITE_DYNAMIC_INT8, TFLITE_FP16, TFLITE_FP32, TFLITE_INT8,
    FormatAndName, VariantFacts,
)

ONNX_OPSET = 17


@dataclass(frozen=True)
class Tolerance:
    """What an artifact must meet against the Keras original on the held-out test set.

    `max_abs_diff` is judged only where it is set; int8 outputs are at least one quantisation step
    away from Keras, so those variants are judged by agreement and accuracy and the difference is reported.
    Agreement is judged by its 95 % Wilson lower bound against `min_agreement` (`export.agreement`).
    """

    max_abs_diff: float | None  # probabilities, max |Δp| over every sample and class
    min_agreement: float  # floor for the 95 % lower bound of the share of inputs whose top class is Keras'
    max_accuracy_delta: float | None = None  # percentage points of accuracy drop, judged by `export.paired`
    # Outputs that are not probabilities (regression, embeddings: `export.outputs`): max |Δ| as a fraction
    # of the output's range on the parity set. float32 allows 1e-4 rather than 1e-5: a value's range can be
    # much smaller than its magnitude, and float32 keeps seven significant digits of the magnitude.
    max_relative_diff: float | None = None

    def to_dict(self) -> dict[str, float | None]:
        return {"max_abs_diff": self.max_abs_diff, "min_agreement": self.min_agreement, "max_accuracy_delta": self.max_accuracy_delta}


# Agreement floors are floors for the 95 % Wilson lower bound of class agreement (`export.agreement`); a bound
# never reaches 1.0, so fp32's is 0.99 and its real check is max |Δp| ≤ 1e-5. On the pets model's 394
# agreement inputs (full agreement: 99.03 %) fp32 passes only with full agreement (393/394 → 98.58 %), and a
# set under 381 inputs cannot show 99 % at all: there only full agreement passes.
FLOAT32 = Tolerance(max_abs_diff=1e-5, min_agreement=0.99, max_relative_diff=1e-4)
# fp16 weights move the pets model's probabilities by up to 1.2e-2 to 1.6e-2 over its 394 agreement inputs
# and flip one or two near-ties (Keras' own top-two margin under 0.02): judged by agreement, with a loose
# bound on |Δp| that still catches a broken file. Floor 0.98: up to 2 flips of 394 pass (392/394 → 98.17 %,
# 391 → 97.79 %); a set under 189 inputs passes only with full agreement.
FLOAT16 = Tolerance(max_abs_diff=5e-2, min_agreement=0.98, max_relative_diff=5e-2)
# int8 steps are 1/255 of a tensor's range; a few of them through a few layers stay well under a tenth.
# Floor 0.96: up to 8 changed answers of 394 pass (386/394 → 96.05 %, 385 → 95.72 %); a set under 93
# inputs passes only with full agreement.
INTEGER = Tolerance(max_abs_diff=None, min_agreement=0.96, max_accuracy_delta=1.0, max_relative_diff=0.1)


@dataclass(frozen=True)
class Variant(FormatAndName):
    """One row of the table: how to make the file and what it must meet (`key`, `filename`: the runtime's)."""

    format: str
    name: str
    description: str
    tolerance: Tolerance
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    calibrated: bool = False  # needs representative data


def _row(facts: VariantFacts, description: str, tolerance: Tolerance, calibrated: bool = False,
         **options: Any) -> Variant:
    """The runtime's row `facts` (`runtime.variants`) with export's settings and tolerance."""
    return Variant(facts.format, facts.name, description, tolerance, MappingProxyType(options), calibrated)


VARIANTS: tuple[Variant, ...] = (
    _row(TFLITE_FP32, "float32, as trained", FLOAT32),
    _row(TFLITE_FP16, "float16 weights, float32 compute", FLOAT16, optimize=True, supported_types=("float16",)),
    _row(TFLITE_DYNAMIC_INT8, "int8 weights, activations quantised at run time", INTEGER, optimize=True),
    _row(
        TFLITE_INT8, "full integer (TFLITE_BUILTINS_INT8), int8 input/output where the graph allows",
        INTEGER, calibrated=True, optimize=True, supported_ops=("TFLITE_BUILTINS_INT8",), io_type="int8",
    ),
    _row(ONNX_FP32, "float32 through tf2onnx", FLOAT32, opset=ONNX_OPSET),
    # Dynamic quantisation of MatMul/Gemm/Gather only: measured on pets, ORT's ConvInteger path (uint8 activations
    # quantised per batch) agreed with Keras on 77% of images and ran 24x slower than this; on reuters 5x slower.
    _row(ONNX_DYNAMIC_INT8, "int8 MatMul/Gemm/Gather weights, activations quantised at run time", INTEGER,
         weight_type="QInt8", per_channel=False, op_types=("MatMul", "Gemm", "Gather")),
    _row(
        ONNX_STATIC_INT8, "QDQ int8 weights and activations, calibrated",
        INTEGER, calibrated=True, quant_format="QDQ", weight_type="QInt8", activation_type="QInt8",
        per_channel=True, calibrate_method="MinMax",
    ),
)


def variant(key: str) -> Variant:
    """The row named `key` (`tflite-int8`)."""
    for row in VARIANTS:
        if row.key == key:
            return row
    raise KeyError(f"unknown variant {key!r}; known: {', '.join(v.key for v in VARIANTS)}")


def select_variants(formats: list[str] | None = None, names: list[str] | None = None) -> list[Variant]:
    """The rows of `formats` (default all) whose key or bare name is in `names` (default all), in table order.

    Raises `ValueError` naming what is unknown, or when the selection is empty.
    """
    formats = formats or list(FORMATS)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"unknown format {', '.join(unknown)}; choose from {', '.join(FORMATS)}")
    rows = [v for v in VARIANTS if v.format in formats]
    if names:
        known = {v.key for v in VARIANTS} | {v.name for v in VARIANTS}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(f"unknown variant {', '.join(unknown)}; choose from {', '.join(v.key for v in VARIANTS)}")
        rows = [v for v in rows if v.key in names or v.name in names]
    if not rows:
        raise ValueError(f"no variant matches formats {formats} and variants {names}")
    return rows
