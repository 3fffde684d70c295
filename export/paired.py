"""The accuracy half of the pass rule: is a variant worse than Keras by more than its tolerance, as far
as the held-out set can show?

Keras and the variant answer the same items, so only the items where exactly one of them is right say
anything about which is more accurate (an exact McNemar test, i.e. a sign test on those discordant
pairs). A variant fails on accuracy when its drop exceeds the tolerance *and* the drop is significant:
the one-sided exact binomial tail P(X ≥ b | X ~ Bin(b + c, ½)) is at most `ALPHA`, where b items are
right for Keras only and c right for the variant only. A small set can resolve only large drops;
`resolution` says how large.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb

import numpy as np

ALPHA = 0.05


def sign_test_p(against: int, towards: int) -> float:
    """One-sided exact p-value of `against` or more of the `against + towards` discordant pairs going
    Keras' way when each way is equally likely (1.0 with no discordant pair)."""
    if against < 0 or towards < 0:
        raise ValueError(f"counts must be non-negative, got {against}, {towards}")
    n = against + towards
    return sum(comb(n, k) for k in range(against, n + 1)) / 2**n


@dataclass(frozen=True)
class PairedAccuracy:
    """Paired answers of Keras and a variant on the held-out set."""

    samples: int
    keras_only: int  # items Keras answers right and the variant wrong
    variant_only: int  # items the variant answers right and Keras wrong

    @property
    def drop_points(self) -> float:
        """Keras' accuracy minus the variant's, in percentage points (negative: the variant is better)."""
        return 100.0 * (self.keras_only - self.variant_only) / self.samples

    @property
    def p_value(self) -> float:
        return sign_test_p(self.keras_only, self.variant_only)

    def significant_drop(self, tolerance_points: float, alpha: float = ALPHA) -> bool:
        """True when the drop exceeds `tolerance_points` and the paired test shows it at `alpha`."""
        return self.drop_points > tolerance_points and self.p_value <= alpha

    def to_dict(self) -> dict[str, float | int]:
        return {"keras_only_right": self.keras_only, "variant_only_right": self.variant_only,
                "p_value": round(self.p_value, 6)}


def paired_accuracy(keras_classes: np.ndarray, variant_classes: np.ndarray, labels: np.ndarray) -> PairedAccuracy:
    """Count the discordant pairs of two classifiers' answers against `labels` (all of one length)."""
    keras_right = np.asarray(keras_classes).reshape(-1) == np.asarray(labels).reshape(-1)
    variant_right = np.asarray(variant_classes).reshape(-1) == np.asarray(labels).reshape(-1)
    return PairedAccuracy(len(keras_right), int(np.sum(keras_right & ~variant_right)),
                          int(np.sum(variant_right & ~keras_right)))


def smallest_significant_drop(samples: int, tolerance_points: float, alpha: float = ALPHA) -> int:
    """The fewest changed answers that can fail a variant on `samples` items: all going against it, more
    than the tolerance, and significant at `alpha` (the best case for detection)."""
    d = 1
    while sign_test_p(d, 0) > alpha or 100.0 * d / samples <= tolerance_points:
        d += 1
    return d


def resolution(samples: int, tolerance_points: float, alpha: float = ALPHA, noun: str = "samples") -> str:
    """What a held-out set of `samples` can tell, in words: e.g. "39 samples: one = 2.56 points; a drop
    under 12.82 points (5 answers) cannot be told from chance here"."""
    d = smallest_significant_drop(samples, tolerance_points, alpha)
    return (f"{samples} held-out {noun}: one answer = {100.0 / samples:.2f} points; a drop under "
            f"{100.0 * d / samples:.2f} points ({d} changed answers, none the other way) cannot be told from chance "
            f"here (exact paired sign test, {alpha:.0%})")
