"""The checks an exported artifact's answers must pass against Keras', on plain arrays.

Like Optimum's `validate_model_outputs`: every figure measured is reported, and each miss is a typed
error naming the artifact, the tolerance and the measured value. `compare_outputs` judges one output of
probabilities; `export.outputs` judges every output of a model; `export.validate` runs the file through
`runtime` to get the answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

import numpy as np

from edgeport.export.agreement import agreement_floor, agreement_shortfall, wilson_interval
from edgeport.export.model_io import PROBABILITIES
from edgeport.export.paired import ALPHA, PairedAccuracy, paired_accuracy
from edgeport.export.variants import Tolerance
from edgeport.runtime.errors import EdgeportError

COLLAPSE_FRACTION = 0.5  # an artifact whose answers vary less than half as much as Keras' has collapsed
MIN_REFERENCE_SPREAD = 1e-3  # below this the Keras answers themselves are constant: nothing to compare


class ValidationError(EdgeportError):
    """An exported artifact does not answer like the Keras model it came from."""

    def __init__(self, key: str, message: str, measured: float | None = None, tolerance: float | None = None):
        super().__init__(f"{key}: {message}")
        self.key, self.measured, self.tolerance = key, measured, tolerance


class OutputShapeError(ValidationError):
    """An output of the artifact has another shape than Keras' (the runtime's `ShapeError` is about inputs)."""


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
    extras: dict[str, Any] = field(default_factory=dict)  # what the phone targets measured (mediapipe, ort), by manifest key

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
        the model has several or one that is not probabilities; then the phone targets' `extras`)."""
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
        return doc | self.extras


@dataclass(frozen=True, eq=False)
class Answers:
    """Keras' answers and the artifact's on the same inputs, with the inputs' labels where known."""

    keras: np.ndarray
    artifact: np.ndarray
    labels: np.ndarray | None = None


@dataclass(frozen=True)
class Checks:
    """What one artifact is held to: its variant's tolerance, the bytes of float32 weights its file must at
    least hold (None: not checked), and whether its latency is measured."""

    tolerance: Tolerance
    min_size: int | None = None
    measure_latency: bool = True


@dataclass(frozen=True, eq=False)
class CheckData:
    """What every artifact is checked on: the inputs and Keras' answers (lists in the Keras model's order),
    what each output holds (`export.model_io.output_kind`), the labels (None: none), and the agreement set
    with Keras' answers on it (single-input classifiers; None otherwise)."""

    inputs: Sequence[np.ndarray]
    reference: Sequence[np.ndarray]
    kinds: Sequence[str]
    output_names: Sequence[str]
    labels: np.ndarray | None = None
    x_agreement: np.ndarray | None = None
    agreement_reference: np.ndarray | None = None

    @property
    def single(self) -> bool:
        """One input, one probability output: checked as edgeport's classifiers always were (agreement set,
        phone targets, engine timing)."""
        return len(self.inputs) == 1 and list(self.kinds) == [PROBABILITIES]

    def fed(self, as_taken: Callable[[np.ndarray], np.ndarray]) -> CheckData:
        """These data with every input batch as one file takes it (`as_taken(x)`: pixels, or as they are)."""
        agreement = None if self.x_agreement is None else as_taken(self.x_agreement)
        return replace(self, inputs=[as_taken(x) for x in self.inputs], x_agreement=agreement)


def weights_missing(key: str, size: int | None, min_size: int | None) -> WeightsMissingError | None:
    """The failure of a file of `size` bytes smaller than its model's `min_size` bytes of float32 parameters."""
    if min_size is None or size is None or size >= min_size:
        return None
    return WeightsMissingError(key, f"file is {size} bytes, less than the model's {min_size} bytes of float32 parameters",
                               size, min_size)


def class_probabilities(outputs: np.ndarray) -> np.ndarray:
    """(N, classes) probabilities; a single sigmoid column p becomes the two columns (1 - p, p)."""
    outputs = np.asarray(outputs, dtype=np.float64).reshape(len(outputs), -1)
    return np.concatenate([1.0 - outputs, outputs], axis=1) if outputs.shape[1] == 1 else outputs


def top_spread(outputs: np.ndarray) -> float:
    """Standard deviation, across samples, of the top class probability: ~0 for a constant answer."""
    return float(np.std(class_probabilities(outputs).max(axis=1)))


def compare_outputs(key: str, test: Answers, tolerance: Tolerance, agreement: Answers | None = None,
                    size: int | None = None, min_size: int | None = None) -> ParityResult:
    """Measure the artifact's answers on the test set against Keras' and the labels; judge by `tolerance`.

    With `agreement` (Keras' and the artifact's answers on the agreement set: every input the task has, no
    labels needed) class agreement and max |Δp| are judged on those as well; accuracy stays on the labelled
    test set. Without labels accuracy is not measured ("no labels"). A file of `size` bytes under `min_size`
    cannot hold the model's float32 weights.
    """
    reference, outputs, labels = test.keras, test.artifact, test.labels
    reference, outputs = np.asarray(reference, np.float64), np.asarray(outputs, np.float64)
    labels = None if labels is None else np.asarray(labels).reshape(-1)
    failures: list[ValidationError] = []
    if outputs.shape != reference.shape:
        failures.append(OutputShapeError(key, f"output shape {outputs.shape} differs from Keras' {reference.shape}"))
        outputs = np.zeros_like(reference)
    finite = bool(np.isfinite(outputs).all())
    if not finite:
        failures.append(NonFiniteError(key, f"{int((~np.isfinite(outputs)).sum())} output values are NaN or infinite"))
    ref_p, out_p = class_probabilities(reference), class_probabilities(np.nan_to_num(outputs, nan=0.0))
    ref_class, out_class = ref_p.argmax(axis=1), out_p.argmax(axis=1)
    agreed, max_diff = out_class == ref_class, float(np.abs(out_p - ref_p).max())
    if agreement is not None:
        wide = _agreement(key, agreement.keras, agreement.artifact, failures)
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
    missing = weights_missing(key, size, min_size)
    if missing is not None:
        failures.append(missing)
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
        failures.append(OutputShapeError(key, f"agreement-set output shape {outputs.shape} differs from Keras' {reference.shape}"))
        return None
    ref_p, out_p = class_probabilities(reference), class_probabilities(np.nan_to_num(outputs, nan=0.0))
    diff = float(np.abs(out_p - ref_p).max()) if np.isfinite(outputs).all() else float("inf")
    return ref_p.argmax(axis=1) == out_p.argmax(axis=1), diff


def _collapsed(ref_class: np.ndarray, out_class: np.ndarray, keras_spread: float, spread: float) -> bool:
    if len(np.unique(ref_class)) > 1 and len(np.unique(out_class)) == 1:
        return True
    return keras_spread >= MIN_REFERENCE_SPREAD and spread < COLLAPSE_FRACTION * keras_spread
