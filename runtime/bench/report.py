"""How `runtime.bench` results are shown: terminal tables, a section of the bundle's report.md, and
report_bench.png (latency against accuracy per variant, marker area by file size).

The tables are built once (`tables`) and rendered as aligned text or as markdown. The report section
sits between two marker comments, so export's report around it is kept and a new bench replaces it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from edgeport.runtime.measure.plot_labels import annotate
from edgeport.runtime.atomic_files import atomic_write_bytes, figure_png, splice_section

REPORT_MD = "report.md"
PLOT = "report_bench.png"
BEGIN, END = "<!-- edgeport-bench:begin -->", "<!-- edgeport-bench:end -->"
Table = tuple[str, list[str], list[list[str]]]


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}" if value < 100 else f"{value:.0f}"


def _n(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def _times(value: float | None, spec: str = ".3f") -> str:
    return "—" if value is None else f"{value:{spec}}×"


def _overhead(run: dict[str, Any] | None, prefix: str = "") -> str:
    if not run or f"{prefix}overhead_ratio" not in run:
        return "—"
    return f"{run[prefix + 'overhead_ratio']:.2f}× ({run[prefix + 'overhead_us']:+.0f} µs)"


def run_of(row: dict[str, Any], threads: int, batch: int) -> dict[str, Any] | None:
    """A variant's measured run at (threads, batch), or None where it was not measured."""
    return next((r for r in row.get("runs", []) if r["threads"] == threads and r["batch"] == batch), None)


def tables(results: dict[str, Any]) -> list[Table]:
    """(title, headers, rows) for every table of a bench result."""
    threads, batch = min(results["settings"]["threads"]), min(results["settings"]["batches"])
    out: list[Table] = []
    head = ["variant", "size B", "load s", "1st ms", "p50 ms", "p90 ms", "p99 ms", "mean ms", "engine p50",
            "overhead", "int8-in ovh", "cold s", "peak MB", "accuracy", "max|Δp|", "status"]
    rows = []
    for r in results["variants"]:
        if "error" in r:
            rows.append([r["variant"], f"{r['size']:,}"] + ["—"] * 11 + [_n(r.get("accuracy"), ".4f"), "—",
                         f"{r['status']} (cannot run here)"])
            continue
        run, cold = run_of(r, threads, batch), r.get("cold_start") or {}
        lat = run["latency_ms"] if run else {}
        rows.append([
            r["variant"], f"{r['size']:,}", _n(r["load_s"], ".3f"), _ms(1000 * r["first_inference_s"]),
            _ms(lat.get("p50")), _ms(lat.get("p90")), _ms(lat.get("p99")), _ms(lat.get("mean")),
            _ms((run or {}).get("engine_ms", {}).get("p50")), _overhead(run), _overhead(run, "ready_"),
            _n(cold.get("seconds"), ".3f"),
            _n(cold["peak_rss_bytes"] / 2**20 if "peak_rss_bytes" in cold else None, ".0f"),
            _n(r.get("accuracy"), ".4f"), _n(r.get("max_abs_diff"), ".1e"), r["status"],
        ])
    out.append((f"latency at batch {batch}, {threads} thread{'s' if threads > 1 else ''} (ms). overhead: predict_tensor "
                "against the engine called directly on engine-ready input (int8-in: predict_tensor given input already "
                "quantised); cold start: fresh process, import + load + first prediction", head, rows))

    combos = [(run["threads"], run["batch"]) for run in next((r["runs"] for r in results["variants"] if r.get("runs")), [])]
    text = results["kind"] == "text"
    head = ["variant"] + [f"{t}t × b{b}" for t, b in combos]
    rows = [[r["variant"]] + [_throughput(run_of(r, t, b), text) for t, b in combos]
            for r in results["variants"] if "runs" in r]
    out.append(("throughput, items/s: runtime on tensors / engine direct" + (" / from raw text" if text else ""), head, rows))

    if text:
        head = ["variant", "threads × batch", "raw texts/s", "raw / tensor", "raw / engine"]
        rows = [[r["variant"], f"{run['threads']} × {run['batch']}", f"{run['raw_items_s']:,.0f}",
                 f"{run['raw_over_tensor']:.2f}×", _n(run.get("raw_over_engine"), ".2f") + "×"]
                for r in results["variants"] for run in r.get("runs", []) if "raw_items_s" in run]
        out.append(("text end to end (tokenise + pad + infer) against predict_tensor and the engine on the ready "
                    "tensors (median latency ratios)", head, rows))

    files = [(r, run) for r in results["variants"] for run in r.get("runs", []) if "files_ms" in run]
    if files:
        head = ["variant", "threads × batch", "files/s", "tensors/s", "decode ms", "files ms", "files / (decode+engine)",
                "float path ms", "float / (decode+engine)", "table ms", "normalise+quantise ms", "table speed-up"]
        rows = [[r["variant"], f"{run['threads']} × {run['batch']}", f"{run['files_items_s']:,.0f}",
                 f"{run['throughput_items_s']:,.0f}", _ms(run["decode_ms"]["p50"]), _ms(run["files_ms"]["p50"]),
                 _times(run.get("files_over_decode_engine")), _ms(run.get("files_float_ms", {}).get("p50")),
                 _times(run.get("files_float_over_decode_engine")), _ms(run.get("table_ms", {}).get("p50")),
                 _ms(run.get("float_quantize_ms", {}).get("p50")), _times(run.get("table_speedup"), ".1f")]
                for r, run in files]
        out.append(("image files end to end (decode, resize, then the pixel table for a quantised input) beside "
                    "predict_tensor on tensors, and against the decode alone plus the engine on ready tensors; the "
                    "float path (normalise, then quantise) beside it; on decoded pixels, the table against normalising "
                    "and quantising (medians)", head, rows))

    keras = results["keras"]
    if keras.get("available"):
        cold = keras["cold_start"]
        head = ["", "cold s", "peak MB"] + [f"b{k['batch']} call ms / predict ms" for k in keras["runs"]]
        rows = [[f"Keras ({keras['threads']} thread)", f"{cold['seconds']:.2f}", f"{cold['peak_rss_bytes'] / 2**20:.0f}"]
                + [f"{k['call_ms']['p50']:.3f} / {k['predict_ms']['p50']:.3f}" for k in keras["runs"]]]
        for r in results["variants"]:
            v = r.get("vs_keras")
            if v:
                rows.append([f"{r['variant']} vs Keras", _n(v.get("cold_start_ratio"), ".3f"), _n(v.get("memory_ratio"), ".3f")]
                            + [f"{b['speedup_vs_call']:.1f}× / {b['speedup_vs_predict']:.1f}×" for b in v["by_batch"]])
        out.append(("Keras baseline (same batches); variant rows: cold start and memory as a fraction of Keras', "
                    "speed-up over model(x) / model.predict", head, rows))
    if results.get("comparisons"):
        rows = [[c["variant"], c["against"], f"{c['speedup']:.2f}×", f"{100 * c['size_ratio']:.1f}%"]
                for c in results["comparisons"]]
        out.append((f"quantised against fp32 (batch {batch}, {threads} thread)", ["variant", "against", "speed-up", "size"], rows))
    return out


def _throughput(run: dict[str, Any] | None, text: bool) -> str:
    if not run:
        return "—"
    cells = [f"{run['throughput_items_s']:,.0f}", f"{run['engine_items_s']:,.0f}" if "engine_items_s" in run else "—"]
    if text:
        cells.append(f"{run['raw_items_s']:,.0f}" if "raw_items_s" in run else "—")
    return " / ".join(cells)


def header_lines(results: dict[str, Any]) -> list[str]:
    m, s = results["machine"], results["settings"]
    engines = ", ".join(f"{k} {v}" for k, v in m["packages"].items())
    lines = [f"{results['task']} ({results['kind']}): {results['bundle']}",
             f"machine: {m['cpu']}, {m['usable_cores']}/{m['cores']} cores, {m['system']}, Python {m['python']}, "
             f"load {m['load_average']}; {engines}",
             f"settings: threads {s['threads']}, batches {s['batches']}, ≥{s['repeats']} repeats after {s['warmup']} "
             f"warm-up (fast calls until {s['min_time_s']} s), medians; inputs: {s['inputs']}"]
    if not results["keras"].get("available"):
        lines.append(f"Keras baseline: skipped ({results['keras'].get('reason')})")
    rec = results.get("recommended") or {}
    lines.append(f"fastest that passed: {rec.get('variant') or '—'} — {rec.get('reason')}"
                 + ("; written to the manifest as its recommended variant" if rec.get("written") else
                    "; the manifest's recommendation is unchanged (--recommend writes this one)"))
    return lines


def render_text(results: dict[str, Any]) -> str:
    """Aligned tables for the terminal."""
    parts = header_lines(results)
    for title, head, rows in tables(results):
        widths = [max(len(str(c)) for c in column) for column in zip(head, *rows)]
        line = lambda cells: "  ".join(str(c).rjust(w) if i else str(c).ljust(w)  # noqa: E731
                                       for i, (c, w) in enumerate(zip(cells, widths)))
        parts += ["", title, line(head), "  ".join("-" * w for w in widths), *map(line, rows)]
    return "\n".join(parts)


def render_markdown(results: dict[str, Any], plot_note: str) -> str:
    """The report.md section (`write_report` puts it between the markers)."""
    parts = ["## Benchmark (edgeport-run bench)", "", *[f"- {line}" for line in header_lines(results)]]
    for title, head, rows in tables(results):
        cells = lambda row: "| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |"  # noqa: E731
        parts += ["", f"**{title}**", "", cells(head), "|" + "---|" * len(head), *map(cells, rows)]
    parts += ["", plot_note]
    return "\n".join(parts) + "\n"


def render_plot(results: dict[str, Any]) -> bytes:
    """PNG: median latency (batch 1, 1 thread) against accuracy; marker area by file size; red = not passed."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.ticker
    from matplotlib import pyplot as plt

    threads, batch = min(results["settings"]["threads"]), min(results["settings"]["batches"])
    fig, ax = plt.subplots(figsize=(8, 5), dpi=100)
    largest = max((r["size"] for r in results["variants"]), default=1)
    best_key = (results.get("recommended") or {}).get("variant")
    xs: list[float] = []
    points, labels, bold, marker_px = [], [], [], []
    for r in results["variants"]:
        run = run_of(r, threads, batch)
        if not run or r.get("accuracy") is None:
            continue
        x, y = run["latency_ms"]["p50"], r["accuracy"]
        xs.append(x)
        color = ("tab:blue" if r["format"] == "tflite" else "tab:orange") if r["status"] == "passed" else "tab:red"
        best = r["variant"] == best_key
        area = 40 + 800 * r["size"] / largest  # points²
        marker_px.append(area ** 0.5 * fig.dpi / 72)
        ax.scatter(x, y, s=area, color=color, alpha=0.6, edgecolors="green" if best else "black",
                   linewidths=2.5 if best else 1.0)
        points.append((x, y))
        labels.append(f"{r['variant']}, {r['size'] / 1024:,.0f} KiB" + (" (recommended)" if best else ""))
        bold.append(best)
    log = bool(xs) and max(xs) > 20 * min(xs)
    if log:  # latencies spanning decades: a log axis with plain numbers
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.margins(x=0.25, y=0.2)
    ax.set_xlabel(f"median latency, ms (batch {batch}, {threads} thread{', log scale' if log else ''})")
    ax.set_ylabel("test accuracy (export's parity check)")
    ax.set_title(f"{results['task']}: latency against accuracy; marker area ∝ file size; red = failed parity"
                 + ("; green ring = recommended" if best_key else ""), fontsize=9)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    # Variants of nearly the same latency and accuracy sit on top of each other: their labels are spread apart.
    annotate(ax, points, labels, marker_px=marker_px, bold=bold)
    return figure_png(fig, layout=False)


def write_report(bundle: str | os.PathLike, results: dict[str, Any]) -> tuple[Path, Path | None]:
    """Insert (or replace) the bench section of report.md; write report_bench.png when matplotlib is here."""
    bundle = Path(bundle)
    plot: Path | None = bundle / PLOT
    try:
        atomic_write_bytes(plot, render_plot(results))
        note = f"![latency against accuracy]({PLOT})"
    except ImportError:
        plot.unlink(missing_ok=True)  # never leave a plot of an earlier run beside new figures
        plot, note = None, "_(plot skipped: matplotlib is not installed here; `pip install matplotlib` to draw it)_"
    path = splice_section(bundle / REPORT_MD, BEGIN, END, render_markdown(results, note), results["task"])
    return path, plot
