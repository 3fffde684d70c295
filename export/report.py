"""The bundle's report: `report.md` (one row per variant) and `report.png` (accuracy against size)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from edgeport.export.agreement import agreement_resolution
from edgeport.export.paired import resolution
from edgeport.export.variants import FLOAT16, FLOAT32, INTEGER
from edgeport.runtime.measure.plot_labels import annotate
from edgeport.runtime.atomic_files import atomic_write_bytes, figure_png
from edgeport.runtime.manifest import Artifact, Manifest

REPORT_MD = "report.md"
REPORT_PNG = "report.png"
NO_LABELS = "no labels"
COLUMNS = ("format", "variant", "size (bytes)", "% of fp32", "accuracy", "Δ accuracy (pt)", "class agreement (n, 95% CI)",
           "max |Δp|", "latency ms (median, batch 1, 1 thread, raw engine)", "status")


@dataclass(frozen=True)
class Row:
    """One variant in the report; `artifact` is None when the export itself failed (`error` says why)."""

    format: str
    variant: str
    artifact: Artifact | None = None
    error: str | None = None

    @property
    def key(self) -> str:
        return f"{self.format}-{self.variant}"

    @property
    def status(self) -> str:
        return self.artifact.status if self.artifact is not None else "failed"

    @property
    def parity(self) -> dict[str, Any]:
        return self.artifact.parity if self.artifact is not None else {}


def _number(value: Any, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def _percent(fraction: float | None) -> str:
    return "—" if fraction is None else f"{100 * fraction:.2f}%"


def _agreement_cell(parity: dict[str, Any]) -> str:
    """`99.49% (n=394, 98.2–99.9%)`: the rate, its count and its Wilson interval, where measured."""
    rate, n, ci = parity.get("class_agreement"), parity.get("agreement_samples"), parity.get("class_agreement_ci95")
    if rate is None and any(o.get("kind") == "values" for o in parity.get("outputs", [])):
        return "undefined (values)"
    if rate is None or n is None or not ci:
        return _percent(rate)
    return f"{100 * rate:.2f}% (n={n}, {100 * ci[0]:.1f}–{100 * ci[1]:.1f}%)"


def _accuracy_cells(parity: dict[str, Any]) -> tuple[str, str]:
    """Accuracy and its change, or "no labels" where the samples had none."""
    if parity and parity.get("accuracy") is None and parity.get("labels") == "no labels":
        return NO_LABELS, NO_LABELS
    return _number(parity.get("accuracy"), ".4f"), _number(parity.get("accuracy_delta_points"), "+.2f")


def _difference_cell(parity: dict[str, Any]) -> str:
    """max |Δp|, and for each output of values its max |Δ| relative to its range."""
    values = [o for o in parity.get("outputs", []) if o.get("kind") == "values"]
    cell = _number(parity.get("max_abs_diff"), ".2e") if parity.get("class_agreement") is not None else ""
    cell += "".join(f"{'; ' if cell else ''}{o['name']}: {_number(o.get('relative_diff'), '.2%')} of range" for o in values)
    return cell or _number(parity.get("max_abs_diff"), ".2e")


def latency_ms(parity: dict[str, Any]) -> float | None:
    """The raw engine's median where it was timed beside the others, else the runtime's own."""
    engine = parity.get("engine_latency_ms_median")
    return engine if engine is not None else parity.get("latency_ms_median")


def _latency_cell(parity: dict[str, Any]) -> str:
    if parity.get("engine_latency_ms_median") is None and parity.get("latency_ms_median") is not None:
        return f"{parity['latency_ms_median']:.3f} (runtime)"
    return _number(latency_ms(parity), ".3f")


def table_rows(rows: Sequence[Row]) -> list[list[str]]:
    """The cells of the report table, as text."""
    fp32_size = {r.format: r.artifact.size for r in rows if r.variant == "fp32" and r.artifact is not None}
    cells = []
    for r in rows:
        p, size = r.parity, r.artifact.size if r.artifact is not None else None
        share = 100.0 * size / fp32_size[r.format] if size is not None and r.format in fp32_size else None
        cells.append([
            r.format, r.variant, _number(size, ","), _number(share, ".1f"), *_accuracy_cells(p), _agreement_cell(p),
            _difference_cell(p), _latency_cell(p),
            r.status.upper() if r.status == "failed" else r.status,
        ])
    return cells


def markdown_row(cells: Sequence[str]) -> str:
    """One row of a Markdown table; a pipe inside a cell (`max |Δp|`) is escaped, so it stays in its cell."""
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"


def markdown_table(rows: Sequence[Row]) -> str:
    """A GitHub-flavoured markdown table, one line per variant."""
    lines = [markdown_row(COLUMNS), "|" + "|".join(" --- " for _ in COLUMNS) + "|"]
    lines += [markdown_row(cells) for cells in table_rows(rows)]
    return "\n".join(lines)


def bullet(text: str) -> str:
    """A markdown list item; a message of several lines keeps them all, as a text block inside the item."""
    first, _, rest = str(text).strip().partition("\n")
    if not rest.strip():
        return f"- {first}"
    block = "\n".join(f"  {line}".rstrip() for line in rest.strip("\n").splitlines())
    return f"- {first}\n\n  ```text\n{block}\n  ```"


def resolution_line(manifest: Manifest, rows: Sequence[Row]) -> str | None:
    """What the held-out set can resolve under the accuracy tolerance, where it has labels."""
    judged = [r.parity for r in rows if r.parity.get("keras_accuracy") is not None
              and (r.parity.get("tolerance") or {}).get("max_accuracy_delta") is not None]
    if not judged:
        return None
    samples, tolerance = judged[0]["samples"], judged[0]["tolerance"]["max_accuracy_delta"]
    noun = "photos" if manifest.kind == "image" else "samples"
    return f"Resolution: {resolution(samples, tolerance, noun=noun)}."


def agreement_line(rows: Sequence[Row]) -> str | None:
    """What the agreement set can resolve against each variant's floor for the lower bound, where agreement
    was measured."""
    judged = [r for r in rows if r.parity.get("class_agreement") is not None and r.parity.get("agreement_samples")
              and (r.parity.get("tolerance") or {}).get("min_agreement") is not None]
    if not judged:
        return None
    n = judged[0].parity["agreement_samples"]
    names: dict[float, list[str]] = {}
    for r in judged:
        if r.parity["agreement_samples"] == n:
            group = names.setdefault(r.parity["tolerance"]["min_agreement"], [])
            group += [] if r.variant in group else [r.variant]
    return agreement_resolution(n, {floor: ", ".join(variants) for floor, variants in names.items()}) + "."


def _sci(value: float) -> str:
    """`1e-5`, not Python's `1e-05`."""
    mantissa, exponent = f"{value:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def tolerances_text() -> str:
    """The pass rule, in words, from the variant table's tolerances."""
    return (
        "Tolerances (class agreement is judged by its 95 % Wilson lower bound against a floor; on a set too small for "
        f"even full agreement to show the floor, only full agreement passes): fp32 floor {FLOAT32.min_agreement:.0%} and max "
        f"|Δp| ≤ {_sci(FLOAT32.max_abs_diff)}; fp16 floor {FLOAT16.min_agreement:.0%} and max |Δp| ≤ {_sci(FLOAT16.max_abs_diff)}; "
        f"int8 variants floor {INTEGER.min_agreement:.0%} and no accuracy drop of more than {INTEGER.max_accuracy_delta:.1f} "
        "point that the held-out set shows (an exact paired sign test on the answers exactly one of Keras and the variant "
        "gets right, p ≤ 0.05; their max |Δp| is reported, not judged). Every variant also fails if its answers collapse. "
        "Outputs that are not probabilities have no classes: max |Δ| relative to the output's range on the check set "
        f"≤ {_sci(FLOAT32.max_relative_diff)} (fp32), {FLOAT16.max_relative_diff:.0%} (fp16), {INTEGER.max_relative_diff:.0%} (int8)."
    )


def baseline_lines(baseline: dict[str, Any] | None) -> list[str]:
    """The baseline paragraph (always answering the largest training class), and the warning when the
    model is not better than it; nothing for a bundle trained without one."""
    if not baseline:
        return []
    said = (f"Baseline: always answering {baseline['majority_class']!r} (the largest training class) gets "
            f"{baseline['majority_accuracy']:.4f} of the test set; ")
    if baseline.get("not_learned"):
        return [f"**Not better than the baseline: {baseline['not_learned']}.** The variants below are checked against "
                "that model: passing means they agree with it, not that it is useful.", "",
                said + "Keras' test accuracy is not better at 5 % (one-sided exact binomial test).", ""]
    return [said + f"Keras' {baseline['test_accuracy']:.4f} is better at 5 % (one-sided exact binomial test).", ""]


def render_markdown(manifest: Manifest, rows: Sequence[Row], notes: Sequence[str] = (),
                    baseline: dict[str, Any] | None = None) -> str:
    """The whole `report.md`: what was exported from what, the baseline, the table, and every failure in words."""
    reference = next((r.parity for r in rows if r.parity), {})
    source = manifest.source_model
    lines = [
        f"# {manifest.task}: export report",
        "",
        *baseline_lines(baseline),
        f"Source: `{source.get('file', '?')}` (sha256 `{str(source.get('sha256', '?'))[:16]}…`). "
        f"Checked through `runtime` on the held-out test set ({reference.get('samples', '?')} samples; class agreement on "
        f"{reference.get('agreement_samples', reference.get('samples', '?'))} inputs, with 95% Wilson intervals); "
        f"Keras accuracy {_number(reference.get('keras_accuracy'), '.4f') if reference.get('labels') != NO_LABELS else NO_LABELS}, "
        f"spread of its top probability "
        f"{_number(reference.get('keras_spread'), '.3f')}.",
        "",
        markdown_table(rows),
        "",
        tolerances_text(),
    ]
    held_out = resolution_line(manifest, rows)
    if held_out:
        lines += ["", held_out]
    agreement = agreement_line(rows)
    if agreement:
        lines += ["", agreement]
    if manifest.recommended:
        lines += ["", f"Recommended: **{manifest.recommended}** — {manifest.recommended_reason}"]
    problems = [bullet(f) for r in rows for f in r.parity.get("failures", [])]  # each names its variant
    problems += [bullet(f"{r.key}: export failed: {r.error}") for r in rows if r.error]
    if problems:
        lines += ["", "## Failures", "", *problems]
    if notes:
        lines += ["", "## Notes", "", *[f"- {n}" for n in notes]]
    return "\n".join(lines) + "\n"


def render_plot(manifest: Manifest, rows: Sequence[Row], baseline: dict[str, Any] | None = None) -> bytes:
    """PNG: accuracy against file size, one labelled point per artifact (latency in the label)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=100)
    measure = "accuracy" if any(r.parity.get("accuracy") is not None for r in rows) else "class_agreement"
    points = [(r, r.artifact.size / 1024, r.parity[measure]) for r in rows
              if r.artifact is not None and r.parity.get(measure) is not None]
    labels, recommended = [], []
    for r, size_kb, accuracy in points:
        color = ("tab:blue" if r.format == "tflite" else "tab:orange") if r.status == "passed" else "tab:red"
        best = r.key == manifest.recommended
        ax.scatter(size_kb, accuracy, color=color, marker="o" if r.format == "tflite" else "s", s=50, zorder=3)
        if best:  # a ring around the recommended variant's marker, and its label in bold
            ax.scatter(size_kb, accuracy, s=220, facecolors="none", edgecolors="green", linewidths=2, zorder=4)
        latency = latency_ms(r.parity)
        labels.append(f"{r.key}" + (f" {latency:.2f} ms" if latency is not None else "") + (" (recommended)" if best else ""))
        recommended.append(best)
    keras_accuracy = next((r.parity["keras_accuracy"] for r, _, _ in points if r.parity.get("keras_accuracy") is not None), None)
    if keras_accuracy is not None:
        ax.axhline(keras_accuracy, color="grey", linestyle="--", linewidth=1, label=f"Keras {keras_accuracy:.4f}")
    if baseline and measure == "accuracy":
        ax.axhline(baseline["majority_accuracy"], color="tab:red", linestyle=":", linewidth=1.5,
                   label=f"always {baseline['majority_class']!r} {baseline['majority_accuracy']:.4f}")
    ax.scatter([], [], color="tab:blue", marker="o", label="tflite")
    ax.scatter([], [], color="tab:orange", marker="s", label="onnx")
    ax.scatter([], [], color="tab:red", marker="o", label="failed")
    if manifest.recommended:
        ax.scatter([], [], s=120, facecolors="none", edgecolors="green", linewidths=2, label="recommended")
    ax.legend(loc="lower right", fontsize=8)
    if points:
        ax.set_xscale("log")
        ax.margins(x=0.25, y=0.15)
    else:
        ax.text(0.5, 0.5, "no artifact could be checked", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("file size (KiB, log scale)")
    ylabel = "test accuracy" if measure == "accuracy" else "class agreement with Keras (no labels)"
    ax.set_ylabel(ylabel)
    title = f"{manifest.task}: {ylabel} against file size (labels: median single-sample latency, 1 thread)"
    if baseline and baseline.get("not_learned"):
        title = f"{manifest.task}: NOT BETTER THAN ALWAYS ANSWERING {baseline['majority_class']!r}\n" + title
    ax.set_title(title, fontsize=9)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    # Variants of nearly the same size and accuracy sit on top of each other: their labels are spread apart.
    annotate(ax, [(size_kb, accuracy) for _, size_kb, accuracy in points], labels, bold=recommended)
    return figure_png(fig, layout=False)


def write_report(bundle_dir: str | os.PathLike, manifest: Manifest, rows: Sequence[Row], notes: Sequence[str] = (),
                 baseline: dict[str, Any] | None = None) -> tuple[Path, Path]:
    """Write `report.md` and `report.png` atomically into the bundle (`baseline`: task.json's)."""
    bundle_dir = Path(bundle_dir)
    md = atomic_write_bytes(bundle_dir / REPORT_MD, render_markdown(manifest, rows, notes, baseline).encode())
    png = atomic_write_bytes(bundle_dir / REPORT_PNG, render_plot(manifest, rows, baseline))
    return md, png
