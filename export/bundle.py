"""Export a trained bundle: every selected variant is converted, checked through `runtime`, and listed in
the manifest, which is written last (after `report.md`/`report.png`).

The export is written into a staging directory beside the bundle (`runtime.staging`), which starts as
hard links to the bundle's files less the manifest and the model files this run does not carry over,
and is swapped in whole when the export is done: at every instant the bundle's path holds the
complete old bundle or the complete new one. An interrupted export leaves the old bundle as it was.

`export_staged` is the one variant loop: `export_bundle` (edgeport-train's bundles) and
`export.own.export_model` (any Keras model with samples) both run it. After the variants are checked,
every artifact of the new manifest gets its golden samples (`export.golden_samples`), listed in the
manifest's `files`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from edgeport.export import onnx as onnx_export
from edgeport.export import tflite as tflite_export
from edgeport.export.calibrate import DEFAULT_SAMPLES, representative_batches
from edgeport.export.errors import ExportError
from edgeport.export.file_inputs import FileInputs
from edgeport.export.golden_samples import write_golden_files
from edgeport.export.latency import engine_latencies, measured_here
from edgeport.export.model_io import PROBABILITIES, VALUES, engine_names, model_io, output_kind
from edgeport.export.own_samples import ParityData
from edgeport.export.report import Row, write_report
from edgeport.export.samples import BundleData, BundleDataError, read_bundle_data
from edgeport.export.targets import mediapipe_parity
from edgeport.export.targets import metadata as metadata_target
from edgeport.export.targets import ort as ort_target
from edgeport.export.targets.phone_edges import phone_edges
from edgeport.export.validate import BundleLoadError, ParityResult, check_bundle_load, load_artifact, validate_artifact
from edgeport.export.variants import Variant, select_variants, variant as variant_row
from edgeport.runtime.bench.policy import Candidate, choose
from edgeport.runtime.errors import ManifestError, ModelFileError
from edgeport.runtime.golden import is_golden
from edgeport.runtime.pixel_table import takes_pixels
from edgeport.runtime.preprocess import load_vocabulary
from edgeport.runtime.manifest import (
    MANIFEST_NAME, Artifact, FileEntry, Manifest, read_manifest, sha256_file, verify_artifact, write_manifest,
)
from edgeport.runtime.staging import staged_bundle

MODEL_FILE = "keras/model.keras"
TASK_FILE = "keras/task.json"
JUDGED_BY = {PROBABILITIES: "probabilities, judged by class agreement and max |Δp|",
             VALUES: "values (no classes: agreement undefined), judged by max |Δ| relative to its range"}


@dataclass
class VariantOutcome:
    """One variant of one export: its manifest entry and parity, or the error that stopped its conversion."""

    variant: Variant
    artifact: Artifact | None = None
    parity: ParityResult | None = None
    error: str | None = None  # the whole message, every line (report.md shows it)
    traceback: str | None = None  # where it was raised (`edgeport-export --verbose` prints it)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.artifact is not None and self.artifact.status == "passed"


@dataclass
class ExportResult:
    bundle_dir: Path
    manifest: Manifest
    outcomes: list[VariantOutcome] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    baseline: dict[str, Any] | None = None  # task.json's: always answering the largest class, and the verdict

    @property
    def learned_nothing(self) -> str | None:
        """The line that says the model is not better than the baseline (None when it is, or unknown)."""
        return (self.baseline or {}).get("not_learned")

    @property
    def failed(self) -> list[str]:
        """Keys of the variants of this run that failed their export or their check."""
        return [o.variant.key for o in self.outcomes if not o.passed]


def resolve_source(path: str | os.PathLike) -> tuple[Path, Path]:
    """(bundle directory, Keras model file) for a bundle directory or a path to its `keras/model.keras`."""
    path = Path(path)
    if not path.exists():
        raise ExportError(f"{path} does not exist; pass a bundle directory written by edgeport-train (artifacts/TASK) "
                          "or its keras/model.keras")
    if path.is_dir():
        bundle, model = path, path / MODEL_FILE
    elif path.suffix == ".keras":
        model = path
        bundle = path.parent.parent if path.parent.name == "keras" else path.parent
    else:
        raise ExportError(f"{path} is neither a bundle directory nor a .keras model file; pass artifacts/TASK or its keras/model.keras")
    if not model.is_file():
        hint = " (a SavedModel directory exports with --samples SAMPLES.npz --out DIR)" if (path / "saved_model.pb").is_file() else ""
        raise ExportError(f"no Keras model at {model}: train it first (edgeport-train TASK --out {bundle}){hint}")
    if model.resolve() != (bundle / MODEL_FILE).resolve():
        raise ExportError(f"{model} is not at {MODEL_FILE} inside a bundle directory; train with edgeport-train --out DIR, "
                          "or export it as a model of your own: --samples SAMPLES.npz --out DIR")
    if not (bundle / TASK_FILE).is_file():
        raise ExportError(f"no {TASK_FILE} in {bundle}: the bundle was not written by edgeport-train; train it again")
    return bundle, model


def read_task(bundle: Path) -> dict[str, Any]:
    try:
        task = json.loads((bundle / TASK_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExportError(f"{bundle / TASK_FILE} is not readable JSON ({exc}); train the model again") from None
    missing = [k for k in ("task", "kind", "labels", "preprocessing", "recipe") if k not in task]
    if missing:
        raise ExportError(f"{bundle / TASK_FILE} lacks {', '.join(missing)}; train the model again")
    return task


def load_test_data(bundle: Path, task: dict[str, Any]) -> BundleData:
    """The test set and calibration sample `train` wrote into the bundle (no training code, no data directory)."""
    try:
        return read_bundle_data(bundle, task)
    except BundleDataError as exc:
        raise ExportError(str(exc)) from None


def agreement_inputs(task_data: Any, x_test: np.ndarray) -> np.ndarray:
    """The inputs class agreement is judged on: the bundle's agreement set (every photo and its mirror
    image) when training wrote one, else the test inputs."""
    x_agreement = getattr(task_data, "x_agreement", None)
    return x_test if x_agreement is None else np.asarray(x_agreement)


def parameter_bytes(model: Any) -> int:
    """Bytes of the model's weights at float32, less BatchNormalization's (converters fold them into the
    convolution before, so no float32 file holds them as such)."""
    import keras

    folded = {id(w) for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization) for w in layer.weights}
    return 4 * int(sum(int(np.prod(w.shape)) for w in model.weights if id(w) not in folded))


def export_variant(model: Any, variant: Variant, path: Path, representative: Any, onnx_source: Path | None) -> dict[str, Any]:
    """Dispatch to the format's module; return its converter facts."""
    if variant.format == "tflite":
        return tflite_export.export_tflite(model, path, variant, representative)
    return onnx_export.export_onnx(model, path, variant, representative, source=onnx_source)


def describe(variant: Variant, path: Path, converter: dict[str, Any]) -> Artifact:
    """The manifest entry for a freshly written file (not yet checked)."""
    specs = tflite_export.tflite_tensor_specs(path) if variant.format == "tflite" else onnx_export.onnx_tensor_specs(path)
    opset = onnx_export.onnx_opset(path) if variant.format == "onnx" else None
    return Artifact(variant.format, variant.name, path.name, sha256_file(path), path.stat().st_size, specs[0], specs[1],
                    {k: str(v) for k, v in converter.items()}, opset)


def export_bundle(
    source: str | os.PathLike,
    formats: Sequence[str] | None = None,
    variants: Sequence[str] | None = None,
    calibration_samples: int = DEFAULT_SAMPLES,
    task_data: Any = None,
    measure_latency: bool = True,
    on_progress: Callable[[int, int, VariantOutcome], None] | None = None,
) -> ExportResult:
    """Export, check and describe the selected variants of the bundle at `source` (see the module doc).

    The test set and the calibration sample come from the bundle (`keras/test.npz`, `keras/calibration.npz`);
    `task_data` (anything with x_train, x_test, y_test) replaces them.
    """
    selected = select_variants(list(formats) if formats else None, list(variants) if variants else None)
    bundle, model_path = resolve_source(source)
    task = read_task(bundle)
    task_data = task_data if task_data is not None else load_test_data(bundle, task)
    x_test = np.asarray(task_data.x_test)
    data = ParityData([np.asarray(task_data.x_train)], [x_test], np.asarray(task_data.y_test),
                      agreement_inputs(task_data, x_test), classifier=True)
    source_model = {"file": MODEL_FILE, "sha256": sha256_file(model_path)}
    import keras  # here, not above: a wrong path or a bundle without data is answered before TensorFlow starts

    model = keras.models.load_model(model_path, compile=False)
    return export_staged(bundle, model, task, data, selected, source_model, calibration_samples, measure_latency,
                         on_progress, parameter_bytes(model))


def export_staged(bundle: Path, model: Any, task: dict[str, Any], data: ParityData, selected: list[Variant],
                  source_model: dict[str, Any], calibration_samples: int, measure_latency: bool,
                  on_progress: Callable[[int, int, VariantOutcome], None] | None, min_size: int | None,
                  copy_in: Mapping[str, Path] | None = None) -> ExportResult:
    """Export `model` into a staging copy of `bundle` and swap it in: the one variant loop every export runs.

    `task` gives the manifest's task, kind, labels, preprocessing (and the calibration seed); artifacts of
    an earlier export of the same source model (`source_model["sha256"]`) that this run does not redo are
    kept. Golden samples are written anew for every artifact. `copy_in` (path in the bundle → file) is
    copied into the new bundle first (a vocabulary the preprocessing names)."""
    previous, old_files = _previous_artifacts(bundle, source_model.get("sha256"), {v.key for v in selected})
    dropped = old_files - {a.file for a in previous}

    def keep(rel: str) -> bool:
        return rel != MANIFEST_NAME and rel not in dropped and not is_golden(rel)

    with staged_bundle(bundle, keep=keep) as stage:
        for relative, file in (copy_in or {}).items():
            (stage / relative).parent.mkdir(parents=True, exist_ok=True)
            (stage / relative).unlink(missing_ok=True)  # a hard link to the old bundle's file: not written through
            shutil.copyfile(file, stage / relative)
        manifest, outcomes, rows = _export_into(stage, model, task, data, selected, previous, source_model,
                                                 calibration_samples, measure_latency, on_progress, min_size)
    return ExportResult(bundle, manifest, outcomes, rows, task.get("baseline"))


def _predict(model: Any, xs: list[np.ndarray]) -> list[np.ndarray]:
    """Keras' answers, a list in the model's output order."""
    ys = model.predict(xs[0] if len(xs) == 1 else xs, batch_size=256, verbose=0)
    ys = [ys[name] for name in model_io(model).outputs] if isinstance(ys, dict) else ys
    return [np.asarray(y) for y in ys] if isinstance(ys, (list, tuple)) else [np.asarray(ys)]


def _export_into(bundle: Path, model: Any, task: dict[str, Any], data: ParityData, selected: list[Variant],
                 previous: list[Artifact], source_model: dict[str, Any], calibration_samples: int, measure_latency: bool,
                 on_progress: Callable[[int, int, VariantOutcome], None] | None, min_size: int | None
                 ) -> tuple[Manifest, list[VariantOutcome], list[Row]]:
    """The export itself, written into `bundle` (the staging directory)."""
    io, xs, y_test = model_io(model), data.x_test, data.y_test
    reference = _predict(model, xs)
    kinds = [PROBABILITIES] * len(reference) if data.classifier else [output_kind(r) for r in reference]
    # One input, one probability output: checked as edgeport's classifiers always were (agreement set included).
    single = len(xs) == 1 and kinds == [PROBABILITIES]
    x_agreement = (data.x_agreement if data.x_agreement is not None else xs[0]) if single else None
    agreement_reference = _predict(model, [x_agreement])[0] if single else None
    seed = int(task.get("seed", 0))
    calibration = data.x_calibration[0] if len(xs) == 1 else dict(zip(io.inputs, data.x_calibration))
    representative = representative_batches(calibration, calibration_samples, seed)
    outcomes: list[VariantOutcome] = []
    phone_notes: list[str] = []
    fed = FileInputs(task)  # each file's check inputs: the tensors, or the pixels for a file that takes pixels
    spec = task.get("preprocessing") or {}
    vocabulary = load_vocabulary(bundle / spec["vocabulary"]) if task.get("kind") == "text" and single else None
    with tempfile.TemporaryDirectory(prefix="edgeport-export-") as work:
        onnx_source: Path | None = None
        if any(v.format == "onnx" and v.name != "fp32" for v in selected) and not any(v.key == "onnx-fp32" for v in selected):
            onnx_source = Path(work) / "model.fp32.onnx"
            onnx_export.export_onnx(model, onnx_source, variant_row("onnx-fp32"))
        for i, row in enumerate(selected, 1):
            started, outcome = time.perf_counter(), VariantOutcome(row)
            path, artifact = bundle / row.filename, None
            try:
                converter = export_variant(model, row, path, representative, onnx_source)
                if row.format == "tflite":
                    converter.update(_phone_ready(path, row, task, bundle, reference[0].shape[-1] if reference else 0))
                if row.key == "onnx-fp32":
                    onnx_source = path
                artifact = describe(row, path, converter)
                size_floor = min_size if row.name == "fp32" else None
                if single:
                    outcome.parity = validate_artifact(path, row.key, fed(artifact, xs[0]), y_test, reference[0],
                                                       row.tolerance, min_size=size_floor, measure_latency=measure_latency,
                                                       x_agreement=fed(artifact, x_agreement),
                                                       agreement_reference=agreement_reference)
                else:
                    outcome.parity = validate_artifact(path, row.key, xs, y_test, reference, row.tolerance,
                                                       min_size=size_floor, measure_latency=measure_latency,
                                                       names=engine_names(path, row.format, io), kinds=kinds,
                                                       output_names=io.outputs)
                status = "passed" if outcome.parity.passed else "failed"
                outcome.artifact = replace(artifact, status=status, parity=outcome.parity.to_dict())
                if row.format == "tflite" and single and task.get("kind") in ("image", "text"):
                    phone = _phone_parity(bundle, artifact, task, model, x_agreement, agreement_reference, fed, vocabulary)
                    phone_notes.append(phone.describe())
                    outcome.artifact = replace(outcome.artifact, parity={**outcome.artifact.parity, "mediapipe": phone.to_dict()})
            except Exception as exc:  # noqa: BLE001 — a converter or engine refusing this graph fails the variant, not the run
                outcome.error, outcome.traceback = error_message(exc), "".join(traceback.format_exception(exc))
                if artifact is not None:  # written and readable, but the runtime could not run it
                    failure = f"{row.key}: the runtime could not run it: {outcome.error}"
                    outcome.artifact = replace(artifact, status="failed", parity={"failures": [failure]})
                else:
                    path.unlink(missing_ok=True)  # no unlisted half-described file stays behind
            outcome.seconds = time.perf_counter() - started
            outcomes.append(outcome)
            if on_progress:
                on_progress(i, len(selected), outcome)

    if measure_latency and single:
        previous = time_engines(bundle, previous, outcomes, lambda artifact: fed(artifact, xs[0][:1]))
    notes = [f"{len(representative)} calibration samples drawn from {data.calibration_source} (seed {seed})."]
    if single:
        where = (f" (keras/agreement.npz); accuracy on the {len(xs[0])} held-out samples."
                 if len(x_agreement) != len(xs[0]) else " (the test set).")
        notes.append(f"Class agreement and max |Δp| judged on {len(x_agreement)} inputs{where}")
    else:
        notes.append(f"Every output judged on the {len(xs[0])} parity samples: " + "; ".join(
            f"{name}: {JUDGED_BY[kind]}" for name, kind in zip(io.outputs, kinds)) + ".")
    if y_test is None:
        notes.append("No labels: accuracy is not measured; the verdict rests on agreement and max |Δp|.")
    notes += [f"{a.key} kept from an earlier export of the same model." for a in previous] + phone_notes
    artifacts = previous + [o.artifact for o in outcomes if o.artifact is not None]
    golden, golden_notes = write_golden_files(bundle, artifacts, io, xs, fed)
    notes += golden_notes
    ort_config, ort_checks, ort_notes = ort_target.ort_files(bundle, artifacts)
    golden, notes = golden + ort_config, notes + ort_notes
    previous = [_with_ort(a, ort_checks) for a in previous]
    for outcome in outcomes:
        outcome.artifact = _with_ort(outcome.artifact, ort_checks) if outcome.artifact else None
    manifest, rows = _write_bundle(bundle, task, source_model, previous, outcomes, notes, golden)
    # The device's own path, end to end: load each new artifact by the manifest just written.
    for outcome in outcomes:
        if outcome.artifact is None or outcome.parity is None:
            continue
        path = bundle / outcome.variant.filename
        names = None if single else engine_names(path, outcome.variant.format, io)
        x = fed(outcome.artifact, xs[0][:16]) if single else [x[:16] for x in xs]
        failure = check_bundle_load(bundle, outcome.variant.key, path, x, names)
        if failure is not None:
            outcome.parity.failures.append(failure)
            outcome.artifact = replace(outcome.artifact, status="failed", parity=outcome.parity.to_dict())
    if any(isinstance(f, BundleLoadError) for o in outcomes if o.parity for f in o.parity.failures):
        manifest, rows = _write_bundle(bundle, task, source_model, previous, outcomes, notes, golden)
    return manifest, outcomes, rows


def time_engines(bundle: Path, previous: list[Artifact], outcomes: list[VariantOutcome],
                 sample: Callable[[Artifact], np.ndarray]) -> list[Artifact]:
    """Time every artifact's raw engine side by side (`export.latency`) on its `sample(artifact)` (a batch of
    one) and record it in its parity; the previous artifacts, with their figures."""
    artifacts = previous + [o.artifact for o in outcomes if o.artifact is not None]
    latencies = engine_latencies({a.key: bundle / a.file for a in artifacts}, {a.key: sample(a) for a in artifacts})
    for outcome in outcomes:
        if outcome.artifact is not None and outcome.parity is not None and outcome.artifact.key in latencies:
            outcome.parity.engine_latency_ms = latencies[outcome.artifact.key]
            # the check's figures again, with the latency; what other targets added (mediapipe, ort) stays
            outcome.artifact = replace(outcome.artifact, parity={**outcome.artifact.parity, **outcome.parity.to_dict()})
    return [replace(a, parity={**a.parity, "engine_latency_ms_median": latencies[a.key]}) if a.key in latencies else a
            for a in previous]


def _phone_ready(path: Path, variant: Variant, task: dict[str, Any], bundle: Path, classes: int) -> dict[str, str]:
    """Make the .tflite at `path` one that MediaPipe Tasks loads as it is: a full-integer file of an image or
    text bundle gets uint8 edges (`export.targets.phone_edges`), then every file the TFLite metadata; the
    converter facts (why none, where none)."""
    facts = {}
    if variant.options.get("io_type") and task.get("kind") in ("image", "text"):
        facts = phone_edges(path, task)
    pixels = task.get("kind") == "image" and takes_pixels(tflite_export.tflite_tensor_specs(path)[0][0])
    try:
        return facts | metadata_target.write_metadata(path, task, bundle, classes, pixels)
    except (metadata_target.MetadataUnavailable, ValueError) as exc:
        return facts | {"metadata": f"none ({exc})"}


def _phone_parity(bundle: Path, artifact: Artifact, task: dict[str, Any], model: Any, x: np.ndarray,
                  keras_answers: np.ndarray, fed: FileInputs,
                  vocabulary: Mapping[str, int] | None) -> mediapipe_parity.PhoneParity:
    """The file of `artifact` through MediaPipe's ImageClassifier or TextClassifier on the check inputs `x`,
    against Keras (its `keras_answers` on `x`) and the runtime on the same file."""
    spec, path = task["preprocessing"], bundle / artifact.file
    engine = load_artifact(path)
    if task["kind"] == "image":
        return mediapipe_parity.image_parity(bundle, artifact.key, artifact.file, x, lambda x: _predict(model, [x])[0],
                                             lambda pixels: engine.predict_tensor(fed.from_pixels(artifact, pixels)),
                                             spec, list(task["labels"]))
    return mediapipe_parity.text_parity(bundle, artifact.key, artifact.file, x, keras_answers, engine.predict_tensor,
                                        spec, vocabulary or {})


def _with_ort(artifact: Artifact, checks: Sequence[ort_target.OrtCheck]) -> Artifact:
    """`artifact` with its `.ort` file and check in `parity["ort"]` (ONNX artifacts only)."""
    check = next((c for c in checks if c.key == artifact.key), None)
    return artifact if check is None else replace(artifact, parity={**artifact.parity, "ort": check.to_dict()})


def _write_bundle(bundle: Path, task: dict[str, Any], source_model: dict[str, Any], previous: list[Artifact],
                  outcomes: list[VariantOutcome], notes: list[str], golden: list[FileEntry]) -> tuple[Manifest, list[Row]]:
    """Write report.md, report.png, then manifest.json (last)."""
    artifacts = previous + [o.artifact for o in outcomes if o.artifact is not None]
    order = {key: i for i, key in enumerate(v.key for v in select_variants())}
    artifacts.sort(key=lambda a: order.get(a.key, len(order)))
    recommended, reason = recommend_variant(artifacts)
    manifest = Manifest(
        task=task["task"], kind=task["kind"], labels=list(task["labels"]), preprocessing=dict(task["preprocessing"]),
        artifacts=artifacts, source_model=dict(source_model), recommended=recommended, recommended_reason=reason,
        files=listed_files(bundle, task) + list(golden),
    )
    rows = [Row(a.format, a.variant, a) for a in artifacts]
    rows += [Row(o.variant.format, o.variant.name, None, o.error) for o in outcomes if o.artifact is None]
    write_report(bundle, manifest, rows, notes, task.get("baseline"))
    write_manifest(bundle, manifest)
    return manifest, rows


def error_message(exc: BaseException) -> str:
    """`Type: message`, the message whole (a converter's error often names the cause lines below its first)."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def listed_files(bundle: Path, task: dict[str, Any]) -> list[FileEntry]:
    """The files other than models that the runtime reads, with size and sha256: the vocabulary, labels.json."""
    names = [task["preprocessing"].get("vocabulary"), "labels.json"]
    return [FileEntry(name, (bundle / name).stat().st_size, sha256_file(bundle / name))
            for name in dict.fromkeys(n for n in names if isinstance(n, str)) if (bundle / name).is_file()]


def _previous_artifacts(bundle: Path, source_sha: str | None, redone: set[str]) -> tuple[list[Artifact], set[str]]:
    """Artifacts of an earlier export of this same model that this run does not redo and that still
    verify, and the files of every artifact the earlier manifest listed."""
    try:
        old = read_manifest(bundle)
    except ManifestError:
        return [], set()
    old_files = {a.file for a in old.artifacts}
    if source_sha is None or old.source_model.get("sha256") != source_sha:
        return [], old_files
    kept = []
    for artifact in old.artifacts:
        if artifact.key in redone:
            continue
        try:
            verify_artifact(bundle, artifact)
        except (ManifestError, ModelFileError):
            continue
        kept.append(artifact)
    return kept, old_files


def recommend_variant(artifacts: Sequence[Artifact]) -> tuple[str | None, str | None]:
    """Export's recommendation, the one `load(bundle)` takes: the fastest artifact that passed its checks,
    by raw-engine latency measured here (`runtime.bench.policy`, as `edgeport-run bench --recommend` on a
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
