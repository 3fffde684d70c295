"""The compatibility matrix: probes from any machine, compared and written as markdown.

A `Probe` is one variant of one bundle run on one engine on one machine (`runtime.compat` makes
them). Probes keep their outputs, so probes made in different places merge into one matrix. A
variant *matches* when its outputs agree with the reference (LiteRT on x86-64 for .tflite,
onnxruntime on x86-64 for .onnx): float variants within 1e-5, quantised ones within one
quantisation step (judged as `edgeport-run verify` judges, `runtime.tolerance`), and the predicted classes
are equal.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from edgeport.runtime import backends
from edgeport.runtime.atomic_files import atomic_write_bytes, splice_section
from edgeport.runtime.manifest import Artifact, read_manifest
from edgeport.runtime.tolerance import within_tolerance
from edgeport.runtime.variants import integer_quantised

ENGINES_SHOWN = ("litert", "tflite-runtime", "onnxruntime")
ENGINE_TITLES = {"litert": "LiteRT", "tflite-runtime": "tflite-runtime", "onnxruntime": "onnxruntime"}
REFERENCE_ENGINE = {"tflite": "litert", "onnx": "onnxruntime"}
MACHINES = {"x86_64": "x86-64", "AMD64": "x86-64", "aarch64": "arm64", "arm64": "arm64", "armv7l": "armv7"}
FLOAT_TOLERANCE = 1e-5
PROBE_BATCH = 4
SECTION_START, SECTION_END = "<!-- edgeport:compat:start -->", "<!-- edgeport:compat:end -->"

@dataclass(frozen=True)
class Probe:
    """One variant of one bundle on one engine on one machine."""

    bundle: str  # the bundle directory's name, e.g. "pets"
    task: str
    variant: str  # artifact key, e.g. "tflite-dynamic-int8"
    engine: str
    machine: str  # platform.machine()
    emulation: str | None  # e.g. "qemu-user cortex-a72"; None on real hardware
    engine_version: str | None
    status: str  # "runs", "load-fails", "run-fails", "crashed", "not-installed"
    reason: str = ""
    tolerance: float = FLOAT_TOLERANCE
    outputs: list | None = None
    inputs_sha256: str = ""
    seconds: float | None = None  # load + run; meaningless for real hardware when emulated

    @property
    def where(self) -> str:
        label = MACHINES.get(self.machine, self.machine)
        return f"{label} (emulated)" if self.emulation else label


def tolerance(artifact: Artifact) -> float:
    """1e-5 for float variants; one output quantisation step for quantised ones (1/256 of a
    probability when the output is float, as for dynamic-range and QDQ models)."""
    quantised = integer_quantised(artifact.format, artifact.variant) or any(
        s.quantized for s in artifact.inputs + artifact.outputs)
    if not quantised:
        return FLOAT_TOLERANCE
    out = artifact.outputs[0] if artifact.outputs else None
    return float(out.scale) if out is not None and out.quantized else 1.0 / 256


def save_probes(probes: Sequence[Probe], path: str | os.PathLike) -> None:
    atomic_write_bytes(path, (json.dumps({"probes": [asdict(p) for p in probes]}, indent=1) + "\n").encode())


def load_probes(paths: Iterable[str | os.PathLike]) -> list[Probe]:
    """Probes from files, merged (see `merge_probes`)."""
    return merge_probes(Probe(**doc) for path in paths for doc in json.loads(Path(path).read_text())["probes"])


def merge_probes(probes: Iterable[Probe]) -> list[Probe]:
    """One probe per (bundle, variant, engine, machine): a later one replaces an earlier one."""
    return list({(p.bundle, p.variant, p.engine, p.where): p for p in probes}.values())


def _classes(y: np.ndarray) -> np.ndarray:
    y = y.reshape(len(y), -1)
    return (y[:, 0] >= 0.5).astype(int) if y.shape[1] == 1 else y.argmax(axis=1)


def agreement(probe: Probe, reference: Probe) -> tuple[bool, float, bool]:
    """(matches, max |difference| over all outputs, predicted classes equal) of two probes that ran."""
    ours = [np.asarray(o, dtype=np.float64) for o in probe.outputs or []]
    theirs = [np.asarray(o, dtype=np.float64) for o in reference.outputs or []]
    other_inputs = probe.inputs_sha256 and reference.inputs_sha256 and probe.inputs_sha256 != reference.inputs_sha256
    if other_inputs or not ours or len(ours) != len(theirs) or any(a.shape != b.shape for a, b in zip(ours, theirs)):
        return False, float("inf"), False
    atol = max(probe.tolerance, reference.tolerance)
    judged = [within_tolerance(a, b, atol) for a, b in zip(ours, theirs)]
    diff = max(largest for _, largest in judged)
    same_class = bool(np.array_equal(_classes(ours[0]), _classes(theirs[0])))
    return all(within for within, _ in judged) and same_class, diff, same_class


def reference_probe(probes: Sequence[Probe], bundle: str, variant: str) -> Probe | None:
    """What a variant's outputs are compared with: the format's reference engine on real x86-64."""
    ran = [p for p in probes if p.bundle == bundle and p.variant == variant and p.status == "runs"]
    best = REFERENCE_ENGINE.get(variant.split("-", 1)[0])
    ranked = sorted(ran, key=lambda p: (p.emulation is not None, p.engine != best, p.where != "x86-64"))
    return ranked[0] if ranked else None


def cell_text(probe: Probe | None, reference: Probe | None, applies: bool) -> str:
    if not applies:
        return "·"
    if probe is None:
        return "not probed"
    if probe.status == "not-installed":
        return "not installed"
    if probe.status != "runs":
        return f"✗ {probe.reason}" if probe.status != "crashed" else f"✗ crashed: {probe.reason}"
    if reference is None:
        return "✓ runs (no reference)"
    if probe is reference:
        return "✓ reference"
    ok, diff, same_class = agreement(probe, reference)
    if ok:
        return "✓ identical" if diff == 0 else f"✓ Δ {diff:.1e}"
    return f"≠ Δ {diff:.1e} > {probe.tolerance:.1e}, " + ("same classes" if same_class else "other classes")


def render_markdown(probes: Sequence[Probe], bundle: str, heading: str | None = None) -> str:
    """The matrix for one bundle (by directory name) as a markdown section: a variant per row, an
    engine × machine per column; for the bundle's report.md and the README."""
    mine = [p for p in probes if p.bundle == bundle]
    task = mine[0].task if mine else bundle
    wheres = sorted({p.where for p in mine}, key=lambda w: (w != "x86-64", w))
    columns = [(e, w) for e in ENGINES_SHOWN for w in wheres if any(p.engine == e and p.where == w for p in mine)]
    variants = list(dict.fromkeys(p.variant for p in mine))
    titles = []
    for engine, where in columns:
        versions = sorted({p.engine_version or "?" for p in mine if p.engine == engine and p.where == where})
        titles.append(f"{ENGINE_TITLES[engine]} {'/'.join(versions)}, {where}")
    name = task if task == bundle else f"{task} ({bundle})"
    lines = [heading or f"## Compatibility of {name}: engines and machines", "",
             "Does each variant load and run on each engine and machine, and match the reference (LiteRT on "
             f"x86-64 for .tflite, onnxruntime on x86-64 for .onnx) on {PROBE_BATCH} fixed inputs: float variants "
             f"within {FLOAT_TOLERANCE:g}, quantised ones within one quantisation step, same predicted class. "
             "Δ is the largest difference of any output.", "",
             "| variant | " + " | ".join(titles) + " |", "|---" * (len(columns) + 1) + "|"]
    for variant in variants:
        reference = reference_probe(mine, bundle, variant)
        fmt = variant.split("-", 1)[0]
        cells = [cell_text(next((p for p in mine if p.variant == variant and p.engine == e and p.where == w), None),
                           reference, backends.ENGINES[e].format == fmt) for e, w in columns]
        lines.append(f"| {variant} | " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    for where, how in sorted({(p.where, p.emulation) for p in mine if p.emulation}):
        lines += ["", f"{where}: {how} (QEMU user mode running the device's own wheels): its answers are the "
                  "device's, its timings are not."]
    return "\n".join(lines) + "\n"


def machine_differences(probes: Sequence[Probe]) -> list[dict[str, Any]]:
    """Each (bundle, variant, engine) probed on real x86-64 and on another machine: does the other
    machine give the same answers? A row's `ok` is False when it fails there or differs."""
    rows = []
    for host in (p for p in probes if p.where == "x86-64" and p.status == "runs"):
        for other in probes:
            same = (other.bundle, other.variant, other.engine) == (host.bundle, host.variant, host.engine)
            if not same or other is host or other.status == "not-installed":  # nothing to compare
                continue
            row = {"bundle": host.bundle, "variant": host.variant, "engine": host.engine, "machine": other.where,
                   "status": other.status, "reason": other.reason, "max_diff": None, "same_class": None,
                   "tolerance": host.tolerance, "ok": False}
            if other.status == "runs":
                row["ok"], row["max_diff"], row["same_class"] = agreement(other, host)
            rows.append(row)
    return rows


def write_report_section(bundle: str | os.PathLike, markdown: str) -> Path:
    """Put `markdown` into the bundle's report.md between compat markers (replacing an older one)."""
    path = Path(bundle) / "report.md"
    title = read_manifest(bundle).task if not path.is_file() else ""
    return splice_section(path, SECTION_START, SECTION_END, markdown, title)
