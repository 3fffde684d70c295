"""Parity of a site in real Chromium: the same inputs through the page and through the Python runtime.

Figures: top-1 agreement, |Δp| per item (the largest difference over its classes; max and median over the
items), and per-item model time in the page and in Python (median), each engine on the same thread count.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edgeport import runtime
from edgeport.runtime.web.browser import Browser, predict_in_page, serve_folder
from edgeport.runtime.web.site import Site


@dataclass(frozen=True)
class Tolerance:
    """What the check accepts: top-1 agreement at least `agreement`, max and median |Δp| at most these."""

    agreement: float = 0.99
    max_abs: float | None = None
    median_abs: float | None = 1e-3


@dataclass
class ParityReport:
    items: int
    agreement: float
    max_abs: float
    median_abs: float
    page_ms: float
    python_ms: float
    page_threads: int
    isolated: bool
    errors: list[tuple[str, str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    def lines(self, site: Site) -> list[str]:
        return [
            f"site         {site.path} ({site.variant} on {site.engine} {site.engine_version})",
            f"items        {self.items} ({len(self.errors)} refused by the page)",
            f"top-1        {self.agreement:.4f} agree with the Python runtime",
            f"max |Δp|     {self.max_abs:.3g}   median |Δp| {self.median_abs:.3g}",
            f"model time   page {self.page_ms:.2f} ms ({self.page_threads} thread{'s' if self.page_threads > 1 else ''}"
            f"{', cross-origin isolated' if self.isolated else ''}), Python {self.python_ms:.2f} ms (median per item)",
            *(f"refused      {name}: {why}" for name, why in self.errors[:5]),
            *(f"FAILED       {why}" for why in self.failures),
        ]


def python_probabilities(bundle: Path, variant: str, items: Sequence[Any], threads: int) -> tuple[np.ndarray, float]:
    """The Python runtime's class probabilities for `items` (label order) and its median per-item model time."""
    model = runtime.load(bundle, variant=variant, threads=threads)
    times, rows = [], []
    for item in items:
        x = model.preprocess([item])
        start = time.perf_counter()
        out = np.asarray(model.predict_tensor(x), dtype=np.float64)
        times.append((time.perf_counter() - start) * 1000)
        rows.append(out[0])
    p = np.stack(rows)
    if p.shape[1] == 1:
        p = np.concatenate([1 - p, p], axis=1)
    return p, statistics.median(times)


def check_site(site: Site, bundle: str | Path, items: Sequence[tuple[str, Any]], tolerance: Tolerance,
               threads: int = 1, isolated: bool = False) -> ParityReport:
    """Feed (name, item) pairs through the page in headless Chromium and through the Python runtime."""
    kind = site.doc["kind"]
    extra = {f"/_inputs/{n}{Path(str(item)).suffix}": Path(item) for n, (_, item) in enumerate(items)} if kind == "image" else {}
    page_items = list(extra) if kind == "image" else [item for _, item in items]
    with serve_folder(site.path, isolated=isolated, extra=extra) as url, Browser() as browser:
        browser.open(f"{url}index.html?threads={threads}")
        browser.run("await window.edgeport; return 1;")  # loaded (and compiled) before anything is timed
        if page_items:
            browser.run("const m = await window.edgeport; await m.predict(args[0]); return 1;", page_items[0])
        page = predict_in_page(browser, page_items)
    python, python_ms = python_probabilities(Path(bundle), site.variant, [item for _, item in items], threads)
    errors, rows, keep, times = [], [], [], []
    for n, ((name, _), result) in enumerate(zip(items, page["results"])):
        if "error" in result:
            errors.append((name, result["error"]))
            continue
        rows.append(result["probabilities"])
        keep.append(n)
        times.append(result["timing"]["model"])
    failures = [f"{len(errors)} of {len(items)} items refused by the page"] if errors else []
    if not rows:
        return ParityReport(len(items), 0.0, float("inf"), float("inf"), float("nan"), python_ms, page["threads"],
                            page["crossOriginIsolated"], errors, failures or ["no item ran"])
    browser_p, python_p = np.asarray(rows, dtype=np.float64), python[keep]
    delta = np.abs(browser_p - python_p).max(axis=1)
    agreement = float(np.mean(browser_p.argmax(axis=1) == python_p.argmax(axis=1)))
    report = ParityReport(len(items), agreement, float(delta.max()), float(np.median(delta)), statistics.median(times),
                          python_ms, page["threads"], page["crossOriginIsolated"], errors, failures)
    if agreement < tolerance.agreement:
        failures.append(f"top-1 agreement {agreement:.4f} is below {tolerance.agreement}")
    if tolerance.max_abs is not None and report.max_abs > tolerance.max_abs:
        failures.append(f"max |Δp| {report.max_abs:.3g} is above {tolerance.max_abs:g}")
    if tolerance.median_abs is not None and report.median_abs > tolerance.median_abs:
        failures.append(f"median |Δp| {report.median_abs:.3g} is above {tolerance.median_abs:g}")
    return report
