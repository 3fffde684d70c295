"""Check an exported artifact against the Keras original, through `runtime` (the code the device runs).

Like Optimum's `validate_model_outputs`: every figure measured is reported, and each miss is a typed
error naming the artifact, the tolerance and the measured value. `validate_artifact` records them;
`ParityResult.raise_for_failures` raises the first.
"""

from __future__ import annotations

import os
import statistics
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edgeport.export.agreement import agreement_floor, agreement_shortfall, wilson_interval
from edgeport.export.model_io import EngineNames
from edgeport.export.paired import ALPHA, PairedAccuracy, paired_accuracy
from edgeport.export.utils import quiet
from edgeport.export.variants import Tolerance
from edgeport.runtime.errors import EdgeportError

COLLAPSE_FRACTION = 0.5  # an artifact whose answers vary less than half as much as Keras' has collapsed
MIN_REFERENCE_SPREAD = 1e-3  # below this the Keras answers themselves are constant: nothing to compare
PREDICT_CHUNK = 256


class ValidationError(EdgeportError):
    """An exported artifact does not answer like the Keras model it came from."""

    def __init__(self, key: str, message: str, measured: float | None = None, tolerance: float | None = None):
        super().__init__(f"{key}: {message}")
        self.key, self.measured, self.tolerance = key, measured, tolerance


class ShapeError(ValidationError):
    """The artifact's output shape differs from Keras'."""


class NonFiniteError(ValidationError):
    """The artifact outputs NaN or infinity."""


class WeightsMissingError(ValidationError):
    """A float32 file smaller than its model's parameters cannot hold the weights."""


class AtolError(ValidationError):
    """Max absolute difference of probabilities above the variant's tolerance."""


class AgreementError(ValidationError):
    """Class agreement's 95 % lower bound is below the variant's floor (`export.agreement`)."""


class AccuracyError(ValidationError):
    """Accuracy moved further from Keras' than the variant allows."""


class CollapseError(ValidationError):
    """The artifact gives nearly the same answer for every input."""


class BundleLoadError(ValidationError):
    """The artifact does not load from the written bundle, or answers differently there."""


@dataclass
class ParityResult:
    """What was measured of one artifact on the held-out set, and which tolerances it missed."""

    key: str
    samples: int
    max_abs_diff: float
    class_agreement: float | None  # None: no output holds probabilities
    accuracy: float | None  # None: the samples have no labels
    keras_accuracy: float | None
    spread: float | None
    keras_spread: float | None
    tolerance: Tolerance
    agreement_samples: int = 0  # inputs class agreement was measured on (the agreement set, else the test set)
    test_class_agreement: float | None = None  # agreement on the held-out test set alone
    latency_ms: float | None = None
    engine_latency_ms: float | None = None  # raw engine, batch 1, 1 thread, interleaved with the others (export.latency)
    failures: list[ValidationError] = field(default_factory=list)
    outputs: Any = field(default=None, repr=False)  # the artifact's outputs, as measured
    output_checks: list[dict[str, Any]] = field(default_factory=list)  # per output, for several or non-probability outputs
    paired: PairedAccuracy | None = None  # Keras' and the artifact's answers on the labelled test set, paired

    @property
    def labelled(self) -> bool:
        return self.accuracy is not None and self.keras_accuracy is not None

    @property
    def accuracy_delta(self) -> float | None:
        """Percentage points, artifact minus Keras; None without labels."""
        return 100.0 * (self.accuracy - self.keras_accuracy) if self.labelled else None

    @property
    def agreement_interval(self) -> tuple[float, float] | None:
        """95 % Wilson interval of the class agreement."""
        if self.class_agreement is None:
            return None
        n = self.agreement_samples or self.samples
        return wilson_interval(round(self.class_agreement * n), n)

    @property
    def accuracy_interval(self) -> tuple[float, float] | None:
        """95 % Wilson interval of the held-out accuracy."""
        return wilson_interval(round(self.accuracy * self.samples), self.samples) if self.labelled else None

    @property
    def passed(self) -> bool:
        return not self.failures

    def raise_for_failures(self) -> None:
        if self.failures:
            raise self.failures[0]

    def to_dict(self) -> dict[str, Any]:
        """The manifest's `parity` entry (accuracy fields null without labels; `outputs` per output where
        the model has several or one that is not probabilities)."""
        agreement, accuracy, delta = self.agreement_interval, self.accuracy_interval, self.accuracy_delta
        doc = {
            "samples": self.samples,
            "max_abs_diff": self.max_abs_diff,
            "class_agreement": self.class_agreement,
            "agreement_samples": self.agreement_samples or self.samples,
            "class_agreement_ci95": None if agreement is None else [round(v, 6) for v in agreement],
            "test_class_agreement": self.test_class_agreement,
            "accuracy": self.accuracy,
            "accuracy_ci95": None if accuracy is None else [round(v, 6) for v in accuracy],
            "keras_accuracy": self.keras_accuracy,
            "accuracy_delta_points": None if delta is None else round(delta, 4),
            "accuracy_paired": None if self.paired is None else self.paired.to_dict(),
            "labels": "no labels" if not self.labelled else "class indices",
            "spread": self.spread,
            "keras_spread": self.keras_spread,
            "latency_ms_median": self.latency_ms,
            "engine_latency_ms_median": self.engine_latency_ms,
            "tolerance": self.tolerance.to_dict(),
            "failures": [str(f) for f in self.failures],
        }
        if self.output_checks:
            doc["outputs"] = self.output_checks
        return doc


def class_probabilities(outputs: np.ndarray) -> np.ndarray:
    """(N, classes) probabilities; a single sigmoid column p becomes the two columns (1 - p, p)."""
    outputs = np.asarray(outputs, dtype=np.float64).reshape(len(outputs), -1)
    return np.concatenate([1.0 - outputs, outputs], axis=1) if outputs.shape[1] == 1 else outputs


def top_spread(outputs: np.ndarray) -> float:
    """Standard deviation, across samples, of the top class probability: ~0 for a constant answer."""
    return float(np.std(class_probabilities(outputs).max(axis=1)))


def compare_outputs(
    key: str, reference: np.ndarray, outputs: np.ndarray, labels: np.ndarray | None, tolerance: Tolerance,
    size: int | None = None, min_size: int | None = None,
    agreement_reference: np.ndarray | None = None, agreement_outputs: np.ndarray | None = None,
) -> ParityResult:
    """Measure `outputs` (the artifact's) against `reference` (Keras') and `labels`; judge by `tolerance`.

    With `agreement_reference`/`agreement_outputs` (Keras' and the artifact's answers on the agreement set:
    every input the task has, no labels needed) class agreement and max |Δp| are judged on those as well;
    accuracy stays on the labelled test set. Without `labels` accuracy is not measured ("no labels").
    """
    reference, outputs = np.asarray(reference, np.float64), np.asarray(outputs, np.float64)
    labels = None if labels is None else np.asarray(labels).reshape(-1)
    failures: list[ValidationError] = []
    if outputs.shape != reference.shape:
        failures.append(ShapeError(key, f"output shape {outputs.shape} differs from Keras' {reference.shape}"))
        outputs = np.zeros_like(reference)
    finite = bool(np.isfinite(outputs).all())
    if not finite:
        failures.append(NonFiniteError(key, f"{int((~np.isfinite(outputs)).sum())} output values are NaN or infinite"))
    ref_p, out_p = class_probabilities(reference), class_probabilities(np.nan_to_num(outputs, nan=0.0))
    ref_class, out_class = ref_p.argmax(axis=1), out_p.argmax(axis=1)
    agreed, max_diff = out_class == ref_class, float(np.abs(out_p - ref_p).max())
    if agreement_reference is not None and agreement_outputs is not None:
        wide = _agreement(key, agreement_reference, agreement_outputs, failures)
        if wide is not None:
            agreed, max_diff = wide[0], max(max_diff, wide[1])
            finite = finite and bool(np.isfinite(wide[1]))
    result = ParityResult(
        key=key,
        samples=len(reference),
        max_abs_diff=max_diff if finite else float("inf"),
        class_agreement=float(np.mean(agreed)),
        agreement_samples=len(agreed),
        test_class_agreement=float(np.mean(out_class == ref_class)),
        accuracy=None if labels is None else float(np.mean(out_class == labels)),
        keras_accuracy=None if labels is None else float(np.mean(ref_class == labels)),
        spread=top_spread(out_p),
        keras_spread=top_spread(ref_p),
        tolerance=tolerance,
        failures=failures,
    )
    if min_size is not None and size is not None and size < min_size:
        failures.append(WeightsMissingError(
            key, f"file is {size} bytes, less than the model's {min_size} bytes of float32 parameters", size, min_size))
    if tolerance.max_abs_diff is not None and not result.max_abs_diff <= tolerance.max_abs_diff:
        failures.append(AtolError(key, f"max |Δp| {result.max_abs_diff:.3g} exceeds {tolerance.max_abs_diff:g}",
                                  result.max_abs_diff, tolerance.max_abs_diff))
    same, n = int(np.sum(agreed)), result.agreement_samples
    shortfall = agreement_shortfall(same, n, tolerance.min_agreement)
    if shortfall is not None:
        failures.append(AgreementError(key, shortfall, wilson_interval(same, n)[0], agreement_floor(n, tolerance.min_agreement)))
    if labels is not None and len(labels) == len(ref_class):
        result.paired = paired_accuracy(ref_class, out_class, labels)
    if tolerance.max_accuracy_delta is not None and result.paired is not None \
            and result.paired.significant_drop(tolerance.max_accuracy_delta):
        paired = result.paired
        failures.append(AccuracyError(
            key, f"accuracy {result.accuracy:.4f} is {result.accuracy_delta:+.2f} points from Keras' {result.keras_accuracy:.4f} "
            f"(allowed −{tolerance.max_accuracy_delta:g}); {paired.keras_only} held-out answers right for Keras only against "
            f"{paired.variant_only} for the variant only, p = {paired.p_value:.3g} (exact paired sign test, at most {ALPHA:g})",
            result.accuracy_delta, tolerance.max_accuracy_delta))
    if _collapsed(ref_class, out_class, result.keras_spread, result.spread):
        failures.append(CollapseError(
            key, f"answers barely vary (spread of the top probability {result.spread:.4f} against Keras' {result.keras_spread:.4f}, "
            f"{len(np.unique(out_class))} distinct classes against {len(np.unique(ref_class))})", result.spread))
    return result


def _agreement(key: str, reference: np.ndarray, outputs: np.ndarray, failures: list[ValidationError]) -> tuple[np.ndarray, float] | None:
    """(per-input class agreement, max |Δp|) on the agreement set, or None (a failure recorded) when unusable."""
    reference, outputs = np.asarray(reference, np.float64), np.asarray(outputs, np.float64)
    if outputs.shape != reference.shape:
        failures.append(ShapeError(key, f"agreement-set output shape {outputs.shape} differs from Keras' {reference.shape}"))
        return None
    ref_p, out_p = class_probabilities(reference), class_probabilities(np.nan_to_num(outputs, nan=0.0))
    diff = float(np.abs(out_p - ref_p).max()) if np.isfinite(outputs).all() else float("inf")
    return ref_p.argmax(axis=1) == out_p.argmax(axis=1), diff


def _collapsed(ref_class: np.ndarray, out_class: np.ndarray, keras_spread: float, spread: float) -> bool:
    if len(np.unique(ref_class)) > 1 and len(np.unique(out_class)) == 1:
        return True
    return keras_spread >= MIN_REFERENCE_SPREAD and spread < COLLAPSE_FRACTION * keras_spread


# ---------------------------------------------------------------- running the artifact


def load_artifact(path: str | os.PathLike, variant: str | None = None, threads: int | None = None) -> Any:
    """`runtime.load`: a model file, or a bundle directory's `variant` (hash-checked against its manifest).

    Its `predict_tensor` quantises int8 inputs and dequantises int8 outputs from the model's own parameters,
    exactly as on the device.
    """
    from edgeport import runtime

    with quiet():  # LiteRT announces its XNNPACK delegate on stderr for every load
        return runtime.load(path, variant=variant, threads=threads)


def predict(loaded: Any, x: np.ndarray) -> np.ndarray:
    """Probabilities for `x`, in chunks, through the loaded model's `predict_tensor`."""
    parts = [np.asarray(loaded.predict_tensor(x[i : i + PREDICT_CHUNK])) for i in range(0, len(x), PREDICT_CHUNK)]
    return np.concatenate(parts, axis=0)


def feeds(names: EngineNames, xs: Sequence[np.ndarray], start: int = 0, stop: int | None = None) -> dict[str, np.ndarray]:
    """Rows `start:stop` of the inputs (in the Keras model's order), keyed by the file's input names."""
    return {name: x[start:stop] for name, x in zip(names.inputs, xs)}


def predict_outputs(loaded: Any, xs: Sequence[np.ndarray], names: EngineNames) -> list[np.ndarray]:
    """Every output, in the Keras model's order, for the inputs `xs` (in the Keras model's order), in chunks."""
    if len(xs) == 1 and len(names.outputs) == 1:
        return [predict(loaded, xs[0])]
    parts: list[list[np.ndarray]] = []
    for start in range(0, len(xs[0]), PREDICT_CHUNK):
        out = loaded.predict_tensor(feeds(names, xs, start, start + PREDICT_CHUNK))
        out = out if isinstance(out, dict) else {names.outputs[0]: out}
        parts.append([np.asarray(out[name]) for name in names.outputs])
    return [np.concatenate(column, axis=0) for column in zip(*parts)]


def median_latency_ms(loaded: Any, sample: Any, runs: int = 30, budget_s: float = 2.0) -> float:
    """Median wall time of single-sample `predict_tensor` calls (after one warm-up call)."""
    loaded.predict_tensor(sample)
    times: list[float] = []
    deadline = time.perf_counter() + budget_s
    while len(times) < runs and (len(times) < 5 or time.perf_counter() < deadline):
        start = time.perf_counter()
        loaded.predict_tensor(sample)
        times.append(time.perf_counter() - start)
    return round(1000.0 * statistics.median(times), 4)


def validate_artifact(
    path: str | os.PathLike,
    key: str,
    x_test: np.ndarray | Sequence[np.ndarray],
    y_test: np.ndarray | None,
    reference: np.ndarray | Sequence[np.ndarray],
    tolerance: Tolerance,
    min_size: int | None = None,
    measure_latency: bool = True,
    x_agreement: np.ndarray | None = None,
    agreement_reference: np.ndarray | None = None,
    names: EngineNames | None = None,
    kinds: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
) -> ParityResult:
    """Run the model file at `path` through the runtime on the test set and compare it with Keras' `reference`.

    `x_agreement` (with Keras' answers on it, `agreement_reference`) is the larger unlabelled set class
    agreement is judged on; without it agreement is measured on the test set. With `names` (the file's
    tensor names in the Keras model's order) `x_test` and `reference` are lists in the Keras model's order,
    and every output is judged by its kind (`export.outputs`); `y_test` may be None (no labels).
    """
    loaded = load_artifact(path)
    size = Path(path).stat().st_size
    if names is None:
        outputs = predict(loaded, x_test)
        sample: Any = x_test[:1]
    else:
        from edgeport.export.outputs import compare_model_outputs  # it builds on this module's checks

        outputs = predict_outputs(loaded, x_test, names)
        sample = feeds(names, x_test, 0, 1)
    wide = predict(loaded, x_agreement) if x_agreement is not None and agreement_reference is not None else None
    if names is None:
        result = compare_outputs(key, reference, outputs, y_test, tolerance, size=size, min_size=min_size,
                                 agreement_reference=agreement_reference if wide is not None else None, agreement_outputs=wide)
    else:
        result = compare_model_outputs(key, reference, outputs, list(output_names or names.outputs), list(kinds or ()),
                                       y_test, tolerance, size=size, min_size=min_size,
                                       agreement_reference=agreement_reference if wide is not None else None,
                                       agreement_outputs=wide)
    result.outputs = outputs
    if measure_latency:
        result.latency_ms = median_latency_ms(load_artifact(path, threads=1), sample)
    return result


def check_bundle_load(bundle_dir: str | os.PathLike, key: str, path: str | os.PathLike, x: Any,
                      names: EngineNames | None = None) -> BundleLoadError | None:
    """Load `key` from the bundle by its manifest (size and sha256 checked, labels and preprocessing read) and
    confirm it answers `x` exactly as the checked file at `path` does; the error, or None. With `names`, `x`
    is a list of inputs in the Keras model's order and every output is compared.

    Same batch both ways: dynamically quantised models quantise activations per batch.
    """
    run = (lambda model: [predict(model, x)]) if names is None else (lambda model: predict_outputs(model, x, names))
    try:
        with warnings.catch_warnings():  # the runtime warns when asked for a variant marked failed
            warnings.simplefilter("ignore")
            outputs = run(load_artifact(bundle_dir, variant=key))
    except EdgeportError as exc:
        return BundleLoadError(key, f"runtime.load of the written bundle refused it: {exc}")
    expected = run(load_artifact(path))
    if any(a.shape != b.shape or not np.array_equal(a, b) for a, b in zip(outputs, expected)):
        return BundleLoadError(key, "loaded from the bundle it answers differently from the file that was checked")
    return None
