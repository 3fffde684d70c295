"""The one recommendation policy, for export and `edgeport-run bench --recommend` alike: the fastest
variant that passed its checks, at batch 1 and one thread on the machine that measured; among those
within `TIE` of the fastest, the smaller file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

TIE = 0.03  # medians within 3 % of the fastest count as a tie: the smaller file wins


@dataclass(frozen=True)
class Candidate:
    """One measured variant: its key, whether it passed, file size, median latency (ms), held-out accuracy."""

    key: str
    passed: bool
    size: int
    latency_ms: float
    accuracy: float | None = None


@dataclass(frozen=True)
class Choice:
    """The recommended candidate, the fastest passing median, and the faster variants that did not pass."""

    chosen: Candidate
    fastest_ms: float
    faster_not_passed: tuple[str, ...]

    def reason(self, measured: str, at: str = "batch 1, 1 thread", tie: float = TIE) -> str:
        """The manifest's `recommended_reason`; `measured` says how and where the figures were taken."""
        c = self.chosen
        text = (f"fastest variant that passed its parity check: median {_ms(c.latency_ms)} ms per prediction at {at} "
                f"({measured}); {c.size:,} bytes")
        if c.accuracy is not None:
            text += f", accuracy {c.accuracy:.4f}"
        if c.latency_ms > self.fastest_ms:
            text += f"; within {tie:.0%} of the fastest ({_ms(self.fastest_ms)} ms), so the smaller file"
        if self.faster_not_passed:
            text += f"; faster but not passed: {', '.join(self.faster_not_passed)}"
        return text


def _ms(value: float) -> str:
    """Milliseconds with three decimals, more below 0.1 ms (a text model's engine call takes microseconds)."""
    return f"{value:.3f}" if value >= 0.1 else f"{value:.5f}"


def choose(candidates: Sequence[Candidate], tie: float = TIE) -> Choice | None:
    """The fastest passing candidate (ties within `tie` → smaller file, then faster), or None if none passed."""
    passed = [c for c in candidates if c.passed]
    if not passed:
        return None
    fastest = min(c.latency_ms for c in passed)
    chosen = min((c for c in passed if c.latency_ms <= fastest * (1 + tie)), key=lambda c: (c.size, c.latency_ms))
    faster = tuple(c.key for c in candidates if not c.passed and c.latency_ms < chosen.latency_ms)
    return Choice(chosen, fastest, faster)
