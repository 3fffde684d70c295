"""Export a trained bundle: every selected variant is converted, checked through `runtime`, and listed in
the manifest, which is written last (after `report.md`/`report.png`).

The export is written into a staging directory beside the bundle (`runtime.staging`), which starts as
hard links to the bundle's files less the manifest and the model files this run does not carry over,
and is swapped in whole when the export is done: at every instant the bundle's path holds the
complete old bundle or the complete new one. An interrupted export leaves the old bundle as it was.

`export_staged` is the one variant loop: `export_bundle` (edgeport-train's bundles) and
`export.own.export_model` (any Keras model with samples) both run it. Each variant is converted
(`export.tflite`, `export.onnx`, then `export.phone_targets`), validated (`export.validate`), and the
bundle is then assembled (`export.assemble`): engines timed, golden samples and `.ort` files, report,
manifest, and the load check through the written manifest.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from edgeport.export import onnx as onnx_export
from edgeport.export import tflite as tflite_export
from edgeport.export.assemble import assemble
from edgeport.export.calibrate import representative_batches
from edgeport.export.checks import CheckData, Checks, ParityResult
from edgeport.export.engine_names import engine_names
from edgeport.export.errors import ExportError
from edgeport.export.file_inputs import FileInputs
from edgeport.export.job import ExportOptions, ExportResult, ExportRun, ExportSource, VariantOutcome
from edgeport.export.model_io import PROBABILITIES, keras_answers, model_io, output_kind
from edgeport.export.own_samples import ParityData
from edgeport.export.phone_targets import PHONE_KINDS, phone_parity, phone_ready
from edgeport.export.report import Row
from edgeport.export.samples import BundleData, BundleDataError, read_bundle_data
from edgeport.export.validate import validate_artifact
from edgeport.export.variants import Variant, variant as variant_row
from edgeport.runtime.errors import ManifestError, ModelFileError
from edgeport.runtime.golden import is_golden
from edgeport.runtime.manifest import MANIFEST_NAME, Artifact, Manifest, read_manifest, sha256_file, verify_artifact
from edgeport.runtime.preprocess import load_vocabulary
from edgeport.runtime.staging import staged_bundle
from edgeport.runtime.variants import ONNX_FP32

MODEL_FILE = "keras/model.keras"
TASK_FILE = "keras/task.json"


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


def export_bundle(source: str | os.PathLike, options: ExportOptions | None = None, task_data: Any = None) -> ExportResult:
    """Export, check and describe the variants `options` selects (default: all) of the bundle at `source` (see
    the module doc).

    The test set and the calibration sample come from the bundle (`keras/test.npz`, `keras/calibration.npz`);
    `task_data` (anything with x_train, x_test, y_test) replaces them.
    """
    options = options or ExportOptions()
    selected = options.selected()
    bundle, model_path = resolve_source(source)
    task = read_task(bundle)
    task_data = task_data if task_data is not None else load_test_data(bundle, task)
    x_test = np.asarray(task_data.x_test)
    data = ParityData([np.asarray(task_data.x_train)], [x_test], np.asarray(task_data.y_test),
                      agreement_inputs(task_data, x_test), classifier=True)
    source_model = {"file": MODEL_FILE, "sha256": sha256_file(model_path)}
    import keras  # here, not above: a wrong path or a bundle without data is answered before TensorFlow starts

    model = keras.models.load_model(model_path, compile=False)
    return export_staged(bundle, ExportSource(model, task, source_model, parameter_bytes(model)), data, selected, options)


def export_staged(bundle: Path, source: ExportSource, data: ParityData, selected: list[Variant], options: ExportOptions,
                  copy_in: Mapping[str, Path] | None = None) -> ExportResult:
    """Export `source.model` into a staging copy of `bundle` and swap it in: the one variant loop every export runs.

    `source.task` gives the manifest's task, kind, labels, preprocessing (and the calibration seed); artifacts
    of an earlier export of the same source model (`source.source_model["sha256"]`) that this run does not redo
    are kept. Golden samples are written anew for every artifact. `copy_in` (path in the bundle → file) is
    copied into the new bundle first (a vocabulary the preprocessing names)."""
    previous, old_files = _previous_artifacts(bundle, source.source_model.get("sha256"), {v.key for v in selected})
    dropped = old_files - {a.file for a in previous}

    def keep(rel: str) -> bool:
        return rel != MANIFEST_NAME and rel not in dropped and not is_golden(rel)

    with staged_bundle(bundle, keep=keep) as stage:
        for relative, file in (copy_in or {}).items():
            (stage / relative).parent.mkdir(parents=True, exist_ok=True)
            (stage / relative).unlink(missing_ok=True)  # a hard link to the old bundle's file: not written through
            shutil.copyfile(file, stage / relative)
        manifest, outcomes, rows = _export_into(stage, source, data, selected, previous, options)
    return ExportResult(bundle, manifest, outcomes, rows, source.task.get("baseline"))


def _export_into(bundle: Path, source: ExportSource, data: ParityData, selected: list[Variant], previous: list[Artifact],
                 options: ExportOptions) -> tuple[Manifest, list[VariantOutcome], list[Row]]:
    """The export itself, written into `bundle` (the staging directory)."""
    io, check, seed = model_io(source.model), check_data(source.model, data), int(source.task.get("seed", 0))
    calibration = data.x_calibration[0] if len(data.x_calibration) == 1 else dict(zip(io.inputs, data.x_calibration))
    representative = representative_batches(calibration, options.calibration_samples, seed)
    run = ExportRun(bundle, source, io, check, FileInputs(source.task), options, _vocabulary(bundle, source.task, check))
    outcomes: list[VariantOutcome] = []
    with tempfile.TemporaryDirectory(prefix="edgeport-export-") as work:
        converter = Converter(source.model, representative, Path(work), selected)
        for i, row in enumerate(selected, 1):
            outcomes.append(export_one(run, row, converter))
            if options.on_progress:
                options.on_progress(i, len(selected), outcomes[-1])
    notes = [f"{len(representative)} calibration samples drawn from {data.calibration_source} (seed {seed})."]
    manifest, rows = assemble(run, previous, outcomes, notes)
    return manifest, outcomes, rows


def check_data(model: Any, data: ParityData) -> CheckData:
    """Keras' answers on the parity samples and what each output holds; for one input and one probability
    output, the agreement set too (the bundle's, else the test inputs) with Keras' answers on it."""
    reference = keras_answers(model, data.x_test)
    kinds = [PROBABILITIES] * len(reference) if data.classifier else [output_kind(r) for r in reference]
    check = CheckData(data.x_test, reference, kinds, model_io(model).outputs, data.y_test)
    if not check.single:
        return check
    x_agreement = data.x_agreement if data.x_agreement is not None else data.x_test[0]
    return replace(check, x_agreement=x_agreement, agreement_reference=keras_answers(model, [x_agreement])[0])


def _vocabulary(bundle: Path, task: Mapping[str, Any], check: CheckData) -> Mapping[str, int] | None:
    """A text classifier's vocabulary, which MediaPipe's TextClassifier is checked with."""
    if task.get("kind") != "text" or not check.single:
        return None
    return load_vocabulary(bundle / (task.get("preprocessing") or {})["vocabulary"])


class Converter:
    """Writes each variant's file. The quantised ONNX variants start from the float32 .onnx: this run's, or one
    written into `work` first when onnx-fp32 is not among the `selected`."""

    def __init__(self, model: Any, representative: Any, work: Path, selected: Sequence[Variant]):
        self.model, self.representative, self.onnx_source = model, representative, None
        if any(v.format == "onnx" and v.name != "fp32" for v in selected) and not any(v.key == ONNX_FP32.key for v in selected):
            self.onnx_source = work / "model.fp32.onnx"
            onnx_export.export_onnx(model, self.onnx_source, variant_row(ONNX_FP32.key))

    def convert(self, row: Variant, path: Path) -> dict[str, Any]:
        """Write `row`'s file at `path`; its converter facts."""
        facts = export_variant(self.model, row, path, self.representative, self.onnx_source)
        if row.key == ONNX_FP32.key:
            self.onnx_source = path
        return facts


def export_one(run: ExportRun, row: Variant, converter: Converter) -> VariantOutcome:
    """Convert, validate and run the phone targets of one variant; a converter or engine refusing it fails the
    variant, not the run."""
    started, outcome = time.perf_counter(), VariantOutcome(row)
    path, artifact = run.bundle / row.filename, None
    try:
        artifact = convert_variant(run, row, converter)
        outcome.artifact, outcome.parity = artifact, validate_variant(run, row, artifact)
        outcome.record()
        if row.format == "tflite" and run.check.single and run.source.task.get("kind") in PHONE_KINDS:
            phone = phone_parity(run, artifact)
            outcome.notes.append(phone.describe())
            outcome.add_to_parity("mediapipe", phone.to_dict())
    except Exception as exc:  # noqa: BLE001 — a converter or engine refusing this graph fails the variant, not the run
        outcome.error, outcome.traceback = error_message(exc), "".join(traceback.format_exception(exc))
        outcome.parity, outcome.notes = None, []
        if artifact is not None:  # written and readable, but the runtime could not run it
            failure = f"{row.key}: the runtime could not run it: {outcome.error}"
            outcome.artifact = replace(artifact, status="failed", parity={"failures": [failure]})
        else:
            path.unlink(missing_ok=True)  # no unlisted half-described file stays behind
    outcome.seconds = time.perf_counter() - started
    return outcome


def convert_variant(run: ExportRun, row: Variant, converter: Converter) -> Artifact:
    """Write the variant's file into the bundle (a .tflite made phone-ready) and describe it (not yet checked)."""
    path = run.bundle / row.filename
    facts = converter.convert(row, path)
    if row.format == "tflite":
        classes = run.check.reference[0].shape[-1] if run.check.reference else 0
        facts.update(phone_ready(path, row, run.source.task, run.bundle, classes))
    return describe(row, path, facts)


def validate_variant(run: ExportRun, row: Variant, artifact: Artifact) -> ParityResult:
    """Check the variant's file through the runtime on the check data as that file takes them."""
    path = run.bundle / row.filename
    checks = Checks(row.tolerance, run.source.min_size if row.name == "fp32" else None, run.options.measure_latency)
    data = run.check.fed(lambda x: run.fed(artifact, x))
    return validate_artifact(path, row.key, data, checks, engine_names(path, row.format, run.io))


def error_message(exc: BaseException) -> str:
    """`Type: message`, the message whole (a converter's error often names the cause lines below its first)."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


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
