"""The phone targets of an export's .tflite files: each made one MediaPipe Tasks loads as it is
(`export.targets.phone_edges`, `export.targets.metadata`), then run through MediaPipe's ImageClassifier or
TextClassifier against Keras and the runtime (`export.targets.mediapipe_parity`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from edgeport.export import tflite as tflite_export
from edgeport.export.job import ExportRun
from edgeport.export.model_io import keras_answers
from edgeport.export.targets import mediapipe_parity
from edgeport.export.targets import metadata as metadata_target
from edgeport.export.targets.phone_edges import phone_edges
from edgeport.export.validate import load_artifact
from edgeport.export.variants import Variant
from edgeport.runtime.manifest import Artifact
from edgeport.runtime.pixel_table import takes_pixels

PHONE_KINDS = ("image", "text")  # the kinds MediaPipe Tasks classifies


def phone_ready(path: Path, variant: Variant, task: Mapping[str, Any], bundle: Path, classes: int) -> dict[str, str]:
    """Make the .tflite at `path` one that MediaPipe Tasks loads as it is: a full-integer file of an image or
    text bundle gets uint8 edges (`export.targets.phone_edges`), then every file the TFLite metadata; the
    converter facts (why none, where none)."""
    facts = {}
    if variant.options.get("io_type") and task.get("kind") in PHONE_KINDS:
        facts = phone_edges(path, task)
    pixels = task.get("kind") == "image" and takes_pixels(tflite_export.tflite_tensor_specs(path)[0][0])
    try:
        return facts | metadata_target.write_metadata(path, task, bundle, classes, pixels)
    except (metadata_target.MetadataUnavailable, ValueError) as exc:
        return facts | {"metadata": f"none ({exc})"}


def phone_parity(run: ExportRun, artifact: Artifact) -> mediapipe_parity.PhoneParity:
    """The file of `artifact` through MediaPipe's ImageClassifier or TextClassifier on the agreement set, against
    Keras (its answers there) and the runtime on the same file."""
    task, check, fed = run.source.task, run.check, run.fed
    spec, path, model = task["preprocessing"], run.bundle / artifact.file, run.source.model
    engine = load_artifact(path)
    if task["kind"] == "image":
        return mediapipe_parity.image_parity(path, artifact.key, fed.pixels(check.x_agreement),
                                             lambda pixels: keras_answers(model, [fed.normalized(pixels)])[0],
                                             lambda pixels: engine.predict_tensor(fed.from_pixels(artifact, pixels)),
                                             list(task["labels"]))
    return mediapipe_parity.text_parity(path, artifact.key, check, engine.predict_tensor, spec, run.vocabulary or {})
