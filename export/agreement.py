"""The agreement half of the pass rule: does a variant give Keras' top class often enough, as far as the
agreement set can show?

A variant fails on agreement when the 95 % Wilson lower bound of its class agreement falls below its floor
(`Tolerance.min_agreement`, a floor for the lower bound). On n inputs even full agreement has a lower
bound of only n / (n + z²); a set so small that this is under the floor cannot show the floor, and there
the floor used is that bound itself (`agreement_floor`): full agreement passes, any disagreement fails.
`agreement_resolution` says, in words, what a set can resolve.
"""

from __future__ import annotations

import math
from typing import Mapping

Z_95 = 1.959963984540054  # two-sided 95 % normal quantile


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a proportion of `successes` in `n` trials (95 % by default).

    Unlike the normal approximation it stays inside [0, 1] and is sensible at 0 or n successes.
    """
    if n <= 0:
        raise ValueError(f"an interval needs at least one trial, got n={n}")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must lie in 0..{n}, got {successes}")
    p, z2 = successes / n, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    low = 0.0 if successes == 0 else max(0.0, centre - half)  # exact at the ends, not off by rounding
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def full_agreement_bound(n: int) -> float:
    """The 95 % lower bound of n agreements in n: the most any result on n inputs can show."""
    return wilson_interval(n, n)[0]


def too_small(n: int, floor: float) -> bool:
    """True when even full agreement on `n` inputs cannot show `floor`."""
    return full_agreement_bound(n) < floor


def agreement_floor(n: int, floor: float) -> float:
    """The floor the lower bound is judged against on `n` inputs: `floor`, or, on a set too small to show
    it, the lower bound of full agreement on that set (so full agreement passes and any disagreement fails).

    Args:
        n: inputs class agreement was measured on.
        floor: the variant's floor for the lower bound (`Tolerance.min_agreement`).

    Returns:
        The floor to compare the 95 % Wilson lower bound with.
    """
    return min(floor, full_agreement_bound(n))


def agreement_passes(agreed: int, n: int, floor: float) -> bool:
    """True when the lower bound of `agreed` of `n` reaches `agreement_floor(n, floor)`."""
    return wilson_interval(agreed, n)[0] >= agreement_floor(n, floor)


def most_disagreements(n: int, floor: float) -> int:
    """The most disagreements on `n` inputs that still pass `floor` (0 where only full agreement passes)."""
    k = 0
    while k < n and agreement_passes(n - k - 1, n, floor):
        k += 1
    return k


def inputs_needed(floor: float) -> int | None:
    """The fewest inputs on which full agreement shows `floor`; None for a floor of 1 (no lower bound reaches it)."""
    if floor >= 1.0:
        return None
    # n / (n + z²) >= floor  <=>  n >= floor · z² / (1 - floor); the loop settles the rounding
    n = max(1, math.floor(floor * Z_95 * Z_95 / (1.0 - floor)) - 1)
    while too_small(n, floor):
        n += 1
    return n


def _percent(fraction: float, spec: str = "g") -> str:
    return f"{format(round(100 * fraction, 10), spec)} %"


def _needs(floor: float) -> str:
    needed = inputs_needed(floor)
    return "no set is large enough" if needed is None else f"it needs {needed} inputs"


def agreement_shortfall(agreed: int, n: int, floor: float) -> str | None:
    """Why `agreed` of `n` fails `floor`, in words (count, lower bound, the floor used), or None if it passes.

    e.g. "class agreement 385/394 (97.72 %, 95 % lower bound 95.72 %) is below the 96 % floor for the lower bound"
    """
    if agreement_passes(agreed, n, floor):
        return None
    low = wilson_interval(agreed, n)[0]
    said = f"class agreement {agreed}/{n} ({_percent(agreed / n, '.2f')}, 95 % lower bound {_percent(low, '.2f')}) is below "
    if not too_small(n, floor):
        return said + f"the {_percent(floor)} floor for the lower bound"
    return said + (f"{_percent(agreement_floor(n, floor), '.2f')}, the lower bound of full agreement on {n} inputs: the set "
                   f"is too small for the {_percent(floor)} floor ({_needs(floor)}), so only full agreement passes")


def agreement_resolution(n: int, floors: Mapping[float, str]) -> str:
    """What an agreement set of `n` inputs can resolve against each floor (labelled by the variants that use
    it), in words: e.g. "Agreement on 394 inputs: the 95 % lower bound at full agreement is 99.03 %; the most
    disagreements a variant passes with: int8 (96 % floor) 8"."""
    parts = []
    for floor, label in sorted(floors.items(), reverse=True):
        part = f"{label} ({_percent(floor)} floor) {most_disagreements(n, floor)}"
        parts.append(part + (f", as the set is too small for that floor ({_needs(floor)})" if too_small(n, floor) else ""))
    said = f"Agreement on {n} inputs: the 95 % lower bound at full agreement is {_percent(full_agreement_bound(n), '.2f')}"
    return said + ("; the most disagreements a variant passes with: " + "; ".join(parts) if parts else "")
