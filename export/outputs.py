"""Checking every output of a model, whatever it holds (`export.model_io.output_kind` says which kind).

The first output that holds probabilities is the model's *primary* output: class agreement, max |Δp|,
accuracy (with labels) and the collapse check are judged on it exactly as for a single-output classifier
(`checks.compare_outputs`). Every other probability output is judged by max |Δp| and class agreement
against the variant's tolerance. An output of values (regression, embeddings) has no classes: it is judged
by max |Δ| relative to its range, Keras' max − min on the parity set, against the variant's
`max_relative_diff`. Each output's figures are listed in the manifest's `parity.outputs`.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from edgeport.export.agreement import agreement_shortfall
from edgeport.export.checks import (
    AgreementError, Answers, AtolError, CheckData, Checks, NonFiniteError, OutputShapeError, ParityResult, ValidationError,
    class_probabilities, compare_outputs, weights_missing,
)
from edgeport.export.model_io import PROBABILITIES
from edgeport.export.variants import Tolerance

MIN_RANGE = 1e-12  # a constant output: its differences are judged as they are


class RelativeDiffError(ValidationError):
    """An output of values moved further, relative to its range, than the variant allows."""


def compare_model_outputs(key: str, data: CheckData, outputs: Sequence[np.ndarray], agreement_outputs: np.ndarray | None,
                          checks: Checks, size: int | None = None) -> ParityResult:
    """Judge every output of the artifact (`outputs`, in the Keras model's order) against Keras' answers in
    `data` (see the module doc); a single probability output is `compare_outputs` unchanged, judged on the
    agreement set too where `agreement_outputs` (the artifact's answers on it) are given."""
    references, names, kinds, tolerance = data.reference, data.output_names, data.kinds, checks.tolerance
    if len(references) == 1 and kinds[0] == PROBABILITIES:
        agreement = None if agreement_outputs is None else Answers(data.agreement_reference, agreement_outputs)
        return compare_outputs(key, Answers(references[0], outputs[0], data.labels), tolerance, agreement, size, checks.min_size)
    primary = next((i for i, kind in enumerate(kinds) if kind == PROBABILITIES), None)
    if primary is not None:
        result = compare_outputs(key, Answers(references[primary], outputs[primary], data.labels), tolerance,
                                 size=size, min_size=checks.min_size)
    else:
        result = ParityResult(key, len(references[0]), 0.0, None, None, None, None, None, tolerance)
        missing = weights_missing(key, size, checks.min_size)
        if missing is not None:
            result.failures.append(missing)
    for i, (name, kind) in enumerate(zip(names, kinds)):
        where = f"output {name!r}"
        if kind == PROBABILITIES:
            check = _probabilities(key, where, Answers(references[i], outputs[i]), tolerance, result.failures, judge=i != primary)
            if i == primary:
                check.update(max_abs_diff=result.max_abs_diff, class_agreement=result.class_agreement, primary=True)
        else:
            check = _values(key, where, Answers(references[i], outputs[i]), tolerance, result.failures)
            if primary is None:
                result.max_abs_diff = max(result.max_abs_diff, check["max_abs_diff"])
        result.output_checks.append({"name": name, "kind": kind, **check})
    return result


def _same_shape(key: str, where: str, reference: np.ndarray, output: np.ndarray, failures: list[ValidationError]) -> bool:
    if output.shape != reference.shape:
        failures.append(OutputShapeError(key, f"{where}: shape {output.shape} differs from Keras' {reference.shape}"))
        return False
    if not np.isfinite(output).all():
        failures.append(NonFiniteError(key, f"{where}: {int((~np.isfinite(output)).sum())} values are NaN or infinite"))
        return False
    return True


def _probabilities(key: str, where: str, answers: Answers, tolerance: Tolerance, failures: list[ValidationError],
                   judge: bool) -> dict[str, Any]:
    """Max |Δp| and class agreement of a probability output (judged here unless it is the primary one)."""
    reference, output = np.asarray(answers.keras, np.float64), np.asarray(answers.artifact, np.float64)
    if not _same_shape(key, where, reference, output, failures if judge else []):
        return {"max_abs_diff": None, "class_agreement": None}
    ref_p, out_p = class_probabilities(reference), class_probabilities(output)
    agreed = ref_p.argmax(1) == out_p.argmax(1)
    diff, agreement = float(np.abs(out_p - ref_p).max()), float(np.mean(agreed))
    if judge and tolerance.max_abs_diff is not None and not diff <= tolerance.max_abs_diff:
        failures.append(AtolError(key, f"{where}: max |Δp| {diff:.3g} exceeds {tolerance.max_abs_diff:g}",
                                  diff, tolerance.max_abs_diff))
    shortfall = agreement_shortfall(int(agreed.sum()), len(agreed), tolerance.min_agreement) if judge else None
    if shortfall is not None:  # the primary output's rule: the Wilson lower bound against the floor
        failures.append(AgreementError(key, f"{where}: {shortfall}", agreement, tolerance.min_agreement))
    return {"max_abs_diff": diff, "class_agreement": agreement}


def _values(key: str, where: str, answers: Answers, tolerance: Tolerance, failures: list[ValidationError]) -> dict[str, Any]:
    """Max |Δ| of an output of values, and that difference as a fraction of Keras' range on the parity set."""
    reference, output = np.asarray(answers.keras, np.float64), np.asarray(answers.artifact, np.float64)
    value_range = float(reference.max() - reference.min()) if reference.size else 0.0
    doc: dict[str, Any] = {"max_abs_diff": float("inf"), "range": value_range, "relative_diff": float("inf"),
                           "max_relative_diff": tolerance.max_relative_diff, "class_agreement": None,
                           "judged_by": "max |Δ| relative to Keras' range on the parity set (no classes: agreement undefined)"}
    if not _same_shape(key, where, reference, output, failures):
        return doc
    diff = float(np.abs(output - reference).max()) if reference.size else 0.0
    relative = diff / value_range if value_range > MIN_RANGE else diff
    doc.update(max_abs_diff=diff, relative_diff=relative)
    if tolerance.max_relative_diff is not None and not relative <= tolerance.max_relative_diff:
        failures.append(RelativeDiffError(
            key, f"{where}: max |Δ| {diff:.3g} is {relative:.2%} of its range {value_range:.3g} "
            f"(allowed {tolerance.max_relative_diff:.2%})", relative, tolerance.max_relative_diff))
    return doc
