"""Export any Keras model with samples: `edgeport-export MODEL.keras --samples S.npz --out DIR`, or in Python

    from edgeport.export import export_model
    result = export_model(model, "samples.npz", "bundles/mine")      # or samples={"x_tokens": ..., "y": ...}

The variants, their checks, the report, the manifest and the golden samples are those of edgeport's own
bundles (`export.bundle.export_staged`). The model is a Keras model in memory, a `.keras` file or a
SavedModel directory (wrapped in a functional model over its `serving_default` signature: inputs in the
order of their names, outputs `output_0`, `output_1`, … in the signature's order). Preprocessing is
optional: a spec in the manifest's own format (`preprocessing`, with `vocab` the file it names), or
`like`, another bundle whose kind, preprocessing, labels and vocabulary are copied. Without one the
bundle is kind "tensor": model-ready tensors in (`predict_tensor`, `run`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from edgeport.export.bundle import export_staged, parameter_bytes
from edgeport.export.errors import ExportError
from edgeport.export.job import ExportOptions, ExportResult, ExportSource
from edgeport.export.model_io import PROBABILITIES, keras_answers, model_io, output_kind
from edgeport.export.own_samples import read_samples
from edgeport.runtime.errors import ManifestError
from edgeport.runtime.manifest import TASK_KINDS, manifest_from_dict, read_manifest, safe_relative_path, sha256_file

TENSOR_KIND = "tensor"
SAVED_MODEL_FILE = "saved_model.pb"


def load_source_model(path: str | os.PathLike) -> tuple[Any, dict[str, Any]]:
    """(Keras model, the manifest's `source_model`) for a `.keras` file or a SavedModel directory."""
    path = Path(path)
    if path.is_dir() and (path / SAVED_MODEL_FILE).is_file():
        return saved_model_as_keras(path), {"file": path.name, "format": "SavedModel",
                                            "sha256": sha256_file(path / SAVED_MODEL_FILE)}
    if not path.is_file() or path.suffix != ".keras":
        raise ExportError(f"{path} is neither a .keras file nor a SavedModel directory (with {SAVED_MODEL_FILE}); "
                          "save the model with model.save('model.keras') or model.export(DIR)")
    import keras  # after the path checks: a wrong path is answered before TensorFlow starts

    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as exc:  # noqa: BLE001 — Keras raises many kinds for a file it cannot read; said in one line
        raise ExportError(f"Keras cannot load {path} ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                          "a model with custom layers must be loadable with keras.models.load_model") from None
    return model, {"file": path.name, "format": "keras", "sha256": sha256_file(path)}


def saved_model_as_keras(path: Path) -> Any:
    """A functional Keras model over a SavedModel's `serving_default` signature (see the module doc)."""
    import keras
    import tensorflow as tf

    class SignatureLayer(keras.layers.TFSMLayer):
        """TFSMLayer calls its endpoint with one positional argument; a signature takes keywords."""

        def call(self, inputs: dict, training: bool = False) -> Any:
            return self.call_endpoint_fn(**inputs)

    try:
        signature = tf.saved_model.load(str(path)).signatures["serving_default"]
        specs = signature.structured_input_signature[1]
        inputs = {name: keras.Input(tuple(spec.shape[1:]), dtype=spec.dtype.name, name=name)
                  for name, spec in sorted(specs.items())}
        outputs = SignatureLayer(str(path), call_endpoint="serving_default")(inputs)
    except Exception as exc:  # noqa: BLE001 — TensorFlow raises many kinds for a directory it cannot use; said in one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ExportError(f"{path} has no usable serving_default signature ({type(exc).__name__}: {first}); "
                          "export the model with model.export(DIR) or tf.saved_model.save(..., signatures=...)") from None
    keys = sorted(outputs, key=lambda k: (len(k), k))  # output_2 before output_10
    return keras.Model(list(inputs.values()), [keras.layers.Identity(name=k)(outputs[k]) for k in keys])


def read_labels(path: str | os.PathLike) -> list[str]:
    """Class names from a JSON list or a text file with one name per line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ExportError(f"cannot read labels file {path} ({exc})") from None
    if text.lstrip().startswith("["):
        try:
            labels = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ExportError(f"{path} starts like a JSON list but is not one ({exc})") from None
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise ExportError(f"{path} must be a JSON list of class names (strings)")
        return labels
    return [line.strip() for line in text.splitlines() if line.strip()]


def _preprocessing(spec_file: str | os.PathLike | None, vocab: str | os.PathLike | None,
                   like: str | os.PathLike | None) -> tuple[str, dict[str, Any], list[str], Path | None]:
    """(kind, preprocessing spec, labels, vocabulary file to copy) from `--preprocessing`/`--vocab` or `--like`."""
    if like is not None:
        try:
            manifest = read_manifest(like)
        except ManifestError as exc:
            raise ExportError(f"--like {like}: {exc}") from None
        name = manifest.preprocessing.get("vocabulary")
        entry = manifest.file_entry(name) if name else None
        if name and (entry is None or not (Path(like) / name).is_file() or sha256_file(Path(like) / name) != entry.sha256):
            raise ExportError(f"--like {like}: its vocabulary {name} is missing, unlisted or changed; re-export that bundle")
        return manifest.kind, dict(manifest.preprocessing), list(manifest.labels), Path(like) / name if name else None
    if spec_file is None:
        if vocab is not None:
            raise ExportError("--vocab needs --preprocessing (the spec that names the vocabulary file)")
        return TENSOR_KIND, {}, [], None
    try:
        spec = json.loads(Path(spec_file).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExportError(f"cannot read preprocessing spec {spec_file} ({exc}); it is a JSON object in the "
                          "manifest's preprocessing format") from None
    kind = spec.get("type") if isinstance(spec, dict) else None
    if kind not in TASK_KINDS or kind == TENSOR_KIND:
        raise ExportError(f"{spec_file}: a preprocessing spec is a JSON object whose type is text or image, got {kind!r}")
    name = spec.get("vocabulary")
    if kind == "text" and (not isinstance(name, str) or vocab is None):
        raise ExportError(f"{spec_file}: text preprocessing names its vocabulary file (\"vocabulary\": \"vocab.json\") "
                          "and --vocab FILE gives that file")
    try:
        manifest_from_dict({"schema_version": 2, "task": "-", "kind": kind, "labels": [], "preprocessing": spec,
                            "artifacts": []})  # the manifest's own checks of the spec
    except ManifestError as exc:
        raise ExportError(f"{spec_file}: {exc}") from None
    return kind, spec, [], Path(vocab) if vocab is not None and name else None


def _check_labels(labels: list[str], reference_classes: int | None) -> None:
    if labels and reference_classes is not None and len(labels) != reference_classes:
        raise ExportError(f"{len(labels)} labels given, the model's first probability output has "
                          f"{reference_classes} classes")


@dataclass(frozen=True)
class ModelDescription:
    """What a bundle says of a model from elsewhere: a preprocessing spec file (`vocab`: the vocabulary it
    names) or `like`, a bundle whose kind, preprocessing, labels and vocabulary are copied; the labels (a
    JSON/text file or a list), the task's name (default: the file's stem), and the seed of the samples' split."""

    preprocessing: str | os.PathLike | None = None
    vocab: str | os.PathLike | None = None
    like: str | os.PathLike | None = None
    labels: str | os.PathLike | Sequence[str] | None = None
    name: str | None = None
    seed: int = 0


def export_model(model: Any, samples: str | os.PathLike | Mapping[str, Any], out: str | os.PathLike,
                 description: ModelDescription | None = None, options: ExportOptions | None = None) -> ExportResult:
    """Export a Keras model (in memory, a .keras file or a SavedModel directory) with its samples into the
    bundle `out`: every variant `options` selects (default: all) converted, checked, reported and given golden
    samples; `description` says what the bundle tells of it (default: tensors in, no labels)."""
    about, options = description or ModelDescription(), options or ExportOptions()
    selected = options.selected()
    if about.preprocessing is not None and about.like is not None:
        raise ExportError("pass --preprocessing or --like, not both")
    if isinstance(model, (str, os.PathLike)):
        model, source_model = load_source_model(model)
    else:
        source_model = {"file": None, "format": "keras (in memory)", "sha256": None}
    io = model_io(model)
    data = read_samples(samples, io, options.calibration_samples, about.seed)
    kind, spec, like_labels, vocab_file = _preprocessing(about.preprocessing, about.vocab, about.like)
    if kind != TENSOR_KIND and len(io.inputs) != 1:
        raise ExportError(f"preprocessing turns raw items into one tensor; this model takes {len(io.inputs)} inputs: "
                          "export it without preprocessing (tensors in)")
    labels = about.labels
    names = read_labels(labels) if isinstance(labels, (str, os.PathLike)) else list(labels or like_labels)
    copy_in = {}
    if vocab_file is not None:
        if not vocab_file.is_file():
            raise ExportError(f"vocabulary file {vocab_file} does not exist")
        copy_in[safe_relative_path(spec["vocabulary"], "preprocessing.vocabulary")] = vocab_file
    if names:
        _check_labels(names, _first_probabilities(model, data.x_test))
    task = {"task": about.name or (source_model["file"] and Path(source_model["file"]).stem) or "model", "kind": kind,
            "labels": names, "preprocessing": spec, "seed": about.seed}
    min_size = None if source_model.get("format") == "SavedModel" else parameter_bytes(model)  # its BatchNorm is hidden
    return export_staged(Path(out), ExportSource(model, task, source_model, min_size), data, selected, options, copy_in)


def _first_probabilities(model: Any, xs: list) -> int | None:
    """Classes of the model's first probability output (2 for a sigmoid), or None when it has none."""
    for y in keras_answers(model, xs):
        if output_kind(y) == PROBABILITIES:
            return max(2, int(y.reshape(len(y), -1).shape[1]))
    return None
