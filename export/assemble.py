"""After every variant is converted and checked: the engines timed side by side, golden samples and `.ort`
files written, `report.md`/`report.png` and then the manifest written, and each new artifact loaded back
from the written bundle by its manifest (the device's own path, end to end)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from edgeport.export.checks import CheckData
from edgeport.export.engine_names import engine_names
from edgeport.export.golden_samples import write_golden_files
from edgeport.export.job import ExportRun, ExportSource, VariantOutcome
from edgeport.export.latency import engine_latencies, measured_here
from edgeport.export.model_io import PROBABILITIES, VALUES
from edgeport.export.report import Row, write_report
from edgeport.export.targets import ort as ort_target
from edgeport.export.validate import check_bundle_load
from edgeport.export.variants import select_variants
from edgeport.runtime.measure.recommend import Candidate, choose
from edgeport.runtime.manifest import Artifact, FileEntry, Manifest, sha256_file, write_manifest

JUDGED_BY = {PROBABILITIES: "probabilities, judged by class agreement and max |Δp|",
             VALUES: "values (no classes: agreement undefined), judged by max |Δ| relative to its range"}
LOAD_CHECK_ROWS = 16


def assemble(run: ExportRun, previous: list[Artifact], outcomes: list[VariantOutcome],
             notes: list[str]) -> tuple[Manifest, list[Row]]:
    """Finish the bundle from the checked variants and the artifacts kept from an earlier export (`previous`);
    `notes` open report.md's notes. The manifest and the report's rows."""
    if run.options.measure_latency and run.check.single:
        previous = time_engines(run.bundle, previous, outcomes, lambda artifact: run.fed(artifact, run.check.inputs[0][:1]))
    notes = notes + check_notes(run.check) + [f"{a.key} kept from an earlier export of the same model." for a in previous]
    notes += [note for outcome in outcomes for note in outcome.notes]
    previous, golden, more = golden_and_ort_files(run, previous, outcomes)
    notes += more
    manifest, rows = write_bundle(run.bundle, run.source, previous, outcomes, notes, golden)
    if check_loads(run, outcomes):
        manifest, rows = write_bundle(run.bundle, run.source, previous, outcomes, notes, golden)
    return manifest, rows


def check_notes(check: CheckData) -> list[str]:
    """What the checks were judged on, for report.md."""
    inputs = check.inputs[0]
    if check.single:
        where = (f" (keras/agreement.npz); accuracy on the {len(inputs)} held-out samples."
                 if len(check.x_agreement) != len(inputs) else " (the test set).")
        notes = [f"Class agreement and max |Δp| judged on {len(check.x_agreement)} inputs{where}"]
    else:
        notes = [f"Every output judged on the {len(inputs)} parity samples: " + "; ".join(
            f"{name}: {JUDGED_BY[kind]}" for name, kind in zip(check.output_names, check.kinds)) + "."]
    if check.labels is None:
        notes.append("No labels: accuracy is not measured; the verdict rests on agreement and max |Δp|.")
    return notes


def time_engines(bundle: Path, previous: list[Artifact], outcomes: list[VariantOutcome],
                 sample: Callable[[Artifact], np.ndarray]) -> list[Artifact]:
    """Time every artifact's raw engine side by side (`export.latency`) on its `sample(artifact)` (a batch of
    one) and record it in its parity; the previous artifacts, with their figures."""
    artifacts = previous + [o.artifact for o in outcomes if o.artifact is not None]
    latencies = engine_latencies({a.key: bundle / a.file for a in artifacts}, {a.key: sample(a) for a in artifacts})
    for outcome in outcomes:
        if outcome.artifact is not None and outcome.parity is not None and outcome.artifact.key in latencies:
            outcome.parity.engine_latency_ms = latencies[outcome.artifact.key]
            outcome.record()
    return [with_parity(a, "engine_latency_ms_median", latencies[a.key]) if a.key in latencies else a for a in previous]


def golden_and_ort_files(run: ExportRun, previous: list[Artifact],
                         outcomes: list[VariantOutcome]) -> tuple[list[Artifact], list[FileEntry], list[str]]:
    """Golden samples for every artifact, then the `.ort` files of the ONNX ones (each recorded in its
    parity's `ort`): the previous artifacts with theirs, the manifest's `files` entries, the notes."""
    artifacts = previous + [o.artifact for o in outcomes if o.artifact is not None]
    golden, golden_notes = write_golden_files(run.bundle, artifacts, run.io, run.check.inputs, run.fed)
    ort_config, ort_checks, ort_notes = ort_target.ort_files(run.bundle, artifacts)
    by_key = {check.key: check.to_dict() for check in ort_checks}
    for outcome in outcomes:
        if outcome.artifact is not None and outcome.artifact.key in by_key:
            outcome.add_to_parity("ort", by_key[outcome.artifact.key])
    previous = [with_parity(a, "ort", by_key[a.key]) if a.key in by_key else a for a in previous]
    return previous, golden + ort_config, golden_notes + ort_notes


def with_parity(artifact: Artifact, name: str, value: object) -> Artifact:
    """An artifact of an earlier export (its parity read from that manifest) with `parity[name]` set."""
    return replace(artifact, parity={**artifact.parity, name: value})


def check_loads(run: ExportRun, outcomes: list[VariantOutcome]) -> bool:
    """Load each new artifact from the written bundle by its manifest and confirm it answers as the checked
    file did; record a failure in its parity. Whether any failed."""
    failed = False
    for outcome in outcomes:
        if outcome.artifact is None or outcome.parity is None:
            continue
        path = run.bundle / outcome.variant.filename
        xs = [run.fed(outcome.artifact, x[:LOAD_CHECK_ROWS]) for x in run.check.inputs]
        failure = check_bundle_load(run.bundle, outcome.variant.key, path, xs, engine_names(path, outcome.variant.format, run.io))
        if failure is not None:
            outcome.parity.failures.append(failure)
            outcome.record()
            failed = True
    return failed


def write_bundle(bundle: Path, source: ExportSource, previous: list[Artifact], outcomes: list[VariantOutcome],
                 notes: list[str], golden: list[FileEntry]) -> tuple[Manifest, list[Row]]:
    """Write report.md, report.png, then manifest.json (last)."""
    task = source.task
    artifacts = previous + [o.artifact for o in outcomes if o.artifact is not None]
    order = {key: i for i, key in enumerate(v.key for v in select_variants())}
    artifacts.sort(key=lambda a: order.get(a.key, len(order)))
    recommended, reason = recommend_variant(artifacts)
    manifest = Manifest(
        task=task["task"], kind=task["kind"], labels=list(task["labels"]), preprocessing=dict(task["preprocessing"]),
        artifacts=artifacts, source_model=dict(source.source_model), recommended=recommended, recommended_reason=reason,
        files=listed_files(bundle, task) + list(golden),
    )
    rows = [Row(a.format, a.variant, a) for a in artifacts]
    rows += [Row(o.variant.format, o.variant.name, None, o.error) for o in outcomes if o.artifact is None]
    write_report(bundle, manifest, rows, notes, task.get("baseline"))
    write_manifest(bundle, manifest)
    return manifest, rows


def listed_files(bundle: Path, task: Mapping[str, Any]) -> list[FileEntry]:
    """The files other than models that the runtime reads, with size and sha256: the vocabulary, labels.json."""
    names = [task["preprocessing"].get("vocabulary"), "labels.json"]
    return [FileEntry(name, (bundle / name).stat().st_size, sha256_file(bundle / name))
            for name in dict.fromkeys(n for n in names if isinstance(n, str)) if (bundle / name).is_file()]


def recommend_variant(artifacts: Sequence[Artifact]) -> tuple[str | None, str | None]:
    """Export's recommendation, the one `load(bundle)` takes: the fastest artifact that passed its checks,
    by raw-engine latency measured here (`runtime.measure.recommend`, as `edgeport-run bench --recommend` on a
    device); the smallest that passed where latency was not measured."""
    passed = [a for a in artifacts if a.status == "passed"]
    if not passed:
        return None, None
    timed = [Candidate(a.key, a.status == "passed", a.size, a.parity["engine_latency_ms_median"], a.parity.get("accuracy"))
             for a in artifacts if a.parity.get("engine_latency_ms_median") is not None]
    choice = choose(timed)
    if choice is not None:
        return choice.chosen.key, choice.reason(measured_here())
    best = min(passed, key=lambda a: (a.size, a.parity.get("latency_ms_median") or 0.0))
    accuracy = best.parity.get("accuracy")
    measured = "no labels" if accuracy is None else f"accuracy {accuracy:.4f}"
    return best.key, f"the smallest artifact that passed its checks ({best.size:,} bytes, {measured}; raw-engine latency not measured)"
