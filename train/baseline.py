"""The baseline every figure is read against: always answering the largest training class.

A model is `better_than_majority` when a one-sided exact binomial test rejects, at 5 %, that its test
accuracy is what that constant answer gets: P(X >= correct) for X ~ Binomial(n, majority share) < 0.05.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

ALPHA = 0.05
IMBALANCE = 2.0  # the largest class more than this many times the smallest: class weights


def binomial_tail(correct: int, n: int, p: float) -> float:
    """P(X >= correct) for X ~ Binomial(n, p), exactly (summed in log space, so any n works)."""
    if correct <= 0:
        return 1.0
    if correct > n:
        return 0.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    logs = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * math.log(p) + (n - i) * math.log1p(-p)
            for i in range(correct, n + 1)]
    top = max(logs)
    return min(1.0, math.exp(top) * math.fsum(math.exp(v - top) for v in logs))


def better_than_chance(correct: int, n: int, p: float, alpha: float = ALPHA) -> tuple[bool, float]:
    """(whether `correct` of `n` is significantly more than a share `p` gets, one-sided, and the p-value)."""
    p_value = binomial_tail(correct, n, p)
    return p_value < alpha, p_value


def compare(y_train: np.ndarray, y_test: np.ndarray, predicted: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """metrics.json's baseline figures: the majority class of the training labels, the share of the test
    set it gets right, the binomial test of the model's test predictions against it, per-class recall."""
    y_train, y_test, predicted = (np.asarray(a).astype(np.int64).ravel() for a in (y_train, y_test, predicted))
    majority = int(np.bincount(y_train, minlength=len(labels)).argmax())
    n = len(y_test)
    share = float(np.mean(y_test == majority)) if n else 0.0
    correct = int(np.sum(predicted == y_test))
    better, p_value = better_than_chance(correct, n, share)
    recall = {}
    for i, name in enumerate(labels):
        held = y_test == i
        recall[name] = float(np.mean(predicted[held] == i)) if held.any() else None
    return {
        "baseline": {"majority_class": labels[majority], "majority_accuracy": share},
        "better_than_majority": better,
        "better_than_majority_p": p_value,
        "per_class_recall": recall,
    }


def class_weights(y: np.ndarray, num_classes: int, imbalance: float = IMBALANCE) -> dict[int, float] | None:
    """Keras `class_weight` ("balanced": n / (classes * count)) when the largest class is more than
    `imbalance` times the smallest present one; None otherwise."""
    counts = np.bincount(np.asarray(y).astype(np.int64).ravel(), minlength=num_classes)
    present = counts[counts > 0]
    if len(present) < 2 or present.max() <= imbalance * present.min():
        return None
    total = counts.sum()
    return {i: float(total / (len(present) * c)) for i, c in enumerate(counts) if c > 0}


def not_learned_line(test_accuracy: float, baseline: dict[str, Any]) -> str:
    """The one line that says a model learned nothing (`better_than_majority` false)."""
    share, name = baseline["majority_accuracy"], baseline["majority_class"]
    if round(test_accuracy, 2) == round(share, 2):
        said = f"test accuracy {test_accuracy:.2f} is what always answering {name!r} gets"
    elif test_accuracy < share:
        said = f"test accuracy {test_accuracy:.2f} is below what always answering {name!r} gets ({share:.2f})"
    else:
        said = (f"test accuracy {test_accuracy:.2f} is not significantly better than always answering {name!r} "
                f"({share:.2f}, binomial test at 5 %)")
    return f"{said}: the model learned nothing; more data or `--epochs`"


def summary(metrics: dict[str, Any]) -> dict[str, Any]:
    """What the bundle's task.json carries for export: the baseline, the verdict and, when the model is
    not better than the baseline, the line that says so."""
    base = metrics["baseline"]
    better = bool(metrics["better_than_majority"])
    return {
        **base,
        "test_accuracy": metrics["test_accuracy"],
        "better_than_majority": better,
        "not_learned": None if better else not_learned_line(metrics["test_accuracy"], base),
    }
