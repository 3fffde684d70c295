"""The variants edgeport exports, as one table of facts: the one place their keys and facts are kept.

A row per variant, in the order `runtime.load` tries them when none is named: its format and name (the
manifest's artifact key is `format-name`, its file `model.<name>.<format>`), whether it is quantised to
integers, and the golden tolerance `edgeport-run verify` allows it. `export.variants` adds the converter
settings and export's tolerances to these rows by key. Standard library only: a device imports it with
nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass


class FormatAndName:
    """`key` and `filename` of a row that has a `format` and a `name` (this table's, export's)."""

    format: str
    name: str

    @property
    def key(self) -> str:
        """The manifest's artifact key, e.g. `tflite-int8`."""
        return artifact_key(self.format, self.name)

    @property
    def filename(self) -> str:
        """The model file's name in a bundle, e.g. `model.int8.tflite`."""
        return model_filename(self.format, self.name)


@dataclass(frozen=True)
class VariantFacts(FormatAndName):
    """One row: what a variant is, wherever it is made or run."""

    format: str  # "tflite" or "onnx"
    name: str  # the manifest's `variant`, e.g. "dynamic-int8"
    integer: bool  # weights (and maybe activations) quantised to int8
    # How far an engine on another machine may stray from the workstation's on the same file, relative to
    # max(1, largest |output|): float kernels differ in summation order; int8 kernels may round a
    # requantisation step the other way, which can move an output by a few quantisation steps.
    golden_tolerance: float
    browser_rank: int  # where it stands in the order `edgeport-run web` picks a variant by when none is named


def artifact_key(fmt: str, name: str) -> str:
    """The manifest's key of variant `name` in format `fmt`: `tflite-int8`."""
    return f"{fmt}-{name}"


def model_filename(fmt: str, name: str) -> str:
    """The bundle's file of variant `name` in format `fmt`: `model.int8.tflite`."""
    return f"model.{name}.{fmt}"


TFLITE_FP32 = VariantFacts("tflite", "fp32", integer=False, golden_tolerance=1e-4, browser_rank=0)
TFLITE_FP16 = VariantFacts("tflite", "fp16", integer=False, golden_tolerance=1e-3, browser_rank=2)
TFLITE_DYNAMIC_INT8 = VariantFacts("tflite", "dynamic-int8", integer=True, golden_tolerance=2e-2, browser_rank=3)
TFLITE_INT8 = VariantFacts("tflite", "int8", integer=True, golden_tolerance=2e-2, browser_rank=4)
ONNX_FP32 = VariantFacts("onnx", "fp32", integer=False, golden_tolerance=1e-4, browser_rank=1)
ONNX_DYNAMIC_INT8 = VariantFacts("onnx", "dynamic-int8", integer=True, golden_tolerance=2e-2, browser_rank=6)
ONNX_STATIC_INT8 = VariantFacts("onnx", "static-int8", integer=True, golden_tolerance=2e-2, browser_rank=5)
VARIANT_FACTS: tuple[VariantFacts, ...] = (  # in load order
    TFLITE_FP32, TFLITE_FP16, TFLITE_DYNAMIC_INT8, TFLITE_INT8, ONNX_FP32, ONNX_DYNAMIC_INT8, ONNX_STATIC_INT8,
)

FORMATS: tuple[str, ...] = tuple(dict.fromkeys(v.format for v in VARIANT_FACTS))
KEYS: tuple[str, ...] = tuple(v.key for v in VARIANT_FACTS)
LOAD_ORDER = KEYS  # `runtime.load` ranks usable variants by this order after engine, recommendation and status
# `edgeport-run web` ships the first of these that passed its checks: measured in Chromium on the pets model
# (docs/web.md), LiteRT.js on the batch-1 fp32 file was the fastest correct engine.
BROWSER_ORDER: tuple[str, ...] = tuple(v.key for v in sorted(VARIANT_FACTS, key=lambda v: v.browser_rank))


def variant_facts(key: str) -> VariantFacts:
    """The row of artifact key `key` (`tflite-int8`); `KeyError` naming the known keys."""
    for row in VARIANT_FACTS:
        if row.key == key:
            return row
    raise KeyError(f"unknown variant {key!r}; known: {', '.join(KEYS)}")


def integer_quantised(fmt: str, name: str) -> bool:
    """Whether variant `name` of format `fmt` is quantised to integers: the table's fact, or for a name no
    export writes (an imported model's), whether the name says so ("int8", "uint8")."""
    row = next((r for r in VARIANT_FACTS if (r.format, r.name) == (fmt, name)), None)
    return row.integer if row is not None else "int" in name
