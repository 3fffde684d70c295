"""TFLite metadata for MediaPipe Tasks (and the TFLite Task Library), as Model Maker writes it: the model's
name, description and version; the input's image properties and normalisation, or for text a
`RegexTokenizer` with its vocabulary file; the labels file on the output (`TENSOR_AXIS_LABELS`). The
metadata flatbuffer goes into the model's `metadata` as `TFLITE_METADATA` and the associated files are
appended to the model file as a zip archive, as the schema expects. LiteRT and edgeport's runtime ignore both.

The writer uses the schema's generated Python that the mediapipe wheel ships (`edgeport[mobile]`) with the
flatbuffers runtime, not a metadata writer library: tflite-support's writers pin protobuf below 4, which
TensorFlow 2.21 cannot use, and mediapipe 1.2.3's writers fail to import (`mediapipe.tasks.cc` is missing
from the wheel). Without mediapipe installed, export writes no metadata and says so.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from typing import Any, Mapping

from edgeport.runtime.atomic_files import atomic_write_bytes
from edgeport.runtime.preprocess import TEXT_DEFAULTS, load_vocabulary

METADATA_NAME = "TFLITE_METADATA"
METADATA_IDENTIFIER = b"M001"
MODEL_IDENTIFIER = b"TFL3"
LABELS_FILE, VOCAB_FILE = "labels.txt", "vocab.txt"
# Pixel units → the model's input: (mean, std) per channel, MediaPipe computing (x - mean) / std.
NORMALIZATION = {"mobilenet": (127.5, 127.5), "tf": (127.5, 127.5), "unit": (0.0, 255.0), "none": (0.0, 1.0)}
PAD, START, UNKNOWN = "<PAD>", "<START>", "<UNKNOWN>"


class MetadataUnavailable(RuntimeError):
    """The metadata schema's generated Python (the mediapipe wheel) is not installed."""


def schema_modules() -> tuple[Any, Any]:
    """(metadata schema, TFLite schema): the generated Python modules of the mediapipe wheel."""
    try:
        from mediapipe.tasks.metadata import metadata_schema_py_generated as meta
        from mediapipe.tasks.metadata import schema_py_generated as tfl
    except ImportError:
        raise MetadataUnavailable("no TFLite metadata: the metadata schema comes with mediapipe; "
                                  "pip install 'edgeport[mobile]'") from None
    return meta, tfl


def text_vocabulary(spec: Mapping[str, Any], bundle: Path) -> list[tuple[str, int]]:
    """(token, id) lines of the tokenizer's vocabulary: the special tokens, then every word whose id the
    runtime keeps (`skip_top <= id < num_words`)."""
    s = {**TEXT_DEFAULTS, **spec}
    vocab = load_vocabulary(bundle / s["vocabulary"])
    special = [(PAD, s["pad_char"]), (START, s["start_char"]), (UNKNOWN, s["oov_char"])]
    words = [(w, i) for w, i in vocab.items() if s["skip_top"] <= i and (s["num_words"] is None or i < s["num_words"])]
    return [(t, i) for t, i in special if i is not None] + sorted(words, key=lambda item: item[1])


def delimiter_pattern(spec: Mapping[str, Any]) -> str:
    """The regex tokenizer's delimiter: the manifest's `split_pattern`, else its filter characters and split."""
    s = {**TEXT_DEFAULTS, **spec}
    if s["split_pattern"] is not None:
        return s["split_pattern"]
    return "[" + "".join(re.escape(c) for c in dict.fromkeys(s["filters"] + s["split"])) + "]+"


def build_metadata(task: Mapping[str, Any], bundle: Path, classes: int,
                   takes_pixels: bool = False) -> tuple[bytes, dict[str, bytes]]:
    """The metadata flatbuffer for a bundle's model and the associated files it names (name → bytes). A model
    that `takes_pixels` (its normalisation inside the graph) is described as taking them as they are: mean 0, std 1."""
    meta, _ = schema_modules()
    spec, files = dict(task["preprocessing"]), {}
    tensor_in = meta.TensorMetadataT()
    if task["kind"] == "image":
        mean, std = NORMALIZATION.get(spec.get("normalization", "none"), (None, None))
        if spec.get("normalization") == "mean-std":
            mean, std = spec["mean"], spec["std"]
        if takes_pixels:
            mean, std = 0.0, 1.0
        if mean is None:
            raise ValueError(f"normalisation {spec.get('normalization')!r} has no (mean, std) form MediaPipe applies")
        tensor_in.name = "image"
        tensor_in.content = meta.ContentT()
        tensor_in.content.contentPropertiesType = meta.ContentProperties.ImageProperties
        tensor_in.content.contentProperties = meta.ImagePropertiesT()
        tensor_in.content.contentProperties.colorSpace = meta.ColorSpaceType.RGB
        norm = meta.NormalizationOptionsT()
        norm.mean, norm.std = [float(m) for m in _three(mean)], [float(v) for v in _three(std)]
        tensor_in.processUnits = [_unit(meta, meta.ProcessUnitOptions.NormalizationOptions, norm)]
        tensor_in.stats = meta.StatsT()
        tensor_in.stats.max, tensor_in.stats.min = [(255.0 - m) / v for m, v in zip(norm.mean, norm.std)], \
            [(0.0 - m) / v for m, v in zip(norm.mean, norm.std)]
        min_version = "1.0.0"
    else:
        tensor_in.name = "input_text"
        tensor_in.content = meta.ContentT()
        tensor_in.content.contentPropertiesType = meta.ContentProperties.FeatureProperties
        tensor_in.content.contentProperties = meta.FeaturePropertiesT()
        tokenizer = meta.RegexTokenizerOptionsT()
        tokenizer.delimRegexPattern = delimiter_pattern(spec)
        tokenizer.vocabFile = [_file(meta, VOCAB_FILE, "Tokens and their ids", meta.AssociatedFileType.VOCABULARY)]
        tensor_in.processUnits = [_unit(meta, meta.ProcessUnitOptions.RegexTokenizerOptions, tokenizer)]
        files[VOCAB_FILE] = "".join(f"{t} {i}\n" for t, i in text_vocabulary(spec, bundle)).encode("utf-8")
        min_version = "1.2.1"  # RegexTokenizerOptions
    tensor_out = meta.TensorMetadataT()
    tensor_out.name = "probability"
    tensor_out.content = meta.ContentT()
    tensor_out.content.contentPropertiesType = meta.ContentProperties.FeatureProperties
    tensor_out.content.contentProperties = meta.FeaturePropertiesT()
    tensor_out.stats = meta.StatsT()
    tensor_out.stats.max, tensor_out.stats.min = [1.0], [0.0]
    labels = list(task.get("labels") or [])
    if labels and len(labels) == classes:
        tensor_out.associatedFiles = [_file(meta, LABELS_FILE, "Class names", meta.AssociatedFileType.TENSOR_AXIS_LABELS)]
        files[LABELS_FILE] = "".join(f"{name}\n" for name in labels).encode("utf-8")
    subgraph = meta.SubGraphMetadataT()
    subgraph.inputTensorMetadata, subgraph.outputTensorMetadata = [tensor_in], [tensor_out]
    model = meta.ModelMetadataT()
    model.name = f"edgeport {task['task']}"
    model.description = f"{task['kind']} classifier exported by edgeport ({len(labels)} classes)"
    model.version = str(task.get("version", "1"))
    model.author, model.license = "edgeport", "as its training data's"
    model.subgraphMetadata, model.minParserVersion = [subgraph], min_version
    import flatbuffers

    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=METADATA_IDENTIFIER)
    return bytes(builder.Output()), files


def _three(value: Any) -> list[float]:
    return list(value) if isinstance(value, (list, tuple)) else [value] * 3


def _unit(meta: Any, kind: int, options: Any) -> Any:
    unit = meta.ProcessUnitT()
    unit.optionsType, unit.options = kind, options
    return unit


def _file(meta: Any, name: str, description: str, kind: int) -> Any:
    entry = meta.AssociatedFileT()
    entry.name, entry.description, entry.type = name, description, kind
    return entry


def with_metadata(model: bytes, metadata: bytes, files: Mapping[str, bytes]) -> bytes:
    """`model` with `metadata` in a new buffer named `TFLITE_METADATA` (any earlier one replaced) and
    `files` appended as a zip archive (stored, as the Task Library reads them)."""
    import flatbuffers

    _, tfl = schema_modules()
    graph = tfl.ModelT.InitFromPackedBuf(bytearray(model), 0)
    graph.metadata = [m for m in (graph.metadata or []) if m.name != METADATA_NAME]
    buffer = tfl.BufferT()
    buffer.data = list(metadata)
    graph.buffers = list(graph.buffers or []) + [buffer]
    entry = tfl.MetadataT()
    entry.name, entry.buffer = METADATA_NAME, len(graph.buffers) - 1
    graph.metadata.append(entry)
    builder = flatbuffers.Builder(len(model) + len(metadata) + 1024)
    builder.Finish(graph.Pack(builder), file_identifier=MODEL_IDENTIFIER)
    out = io.BytesIO(bytes(builder.Output()))
    out.seek(0, io.SEEK_END)
    if files:
        with zipfile.ZipFile(out, "a", compression=zipfile.ZIP_STORED) as archive:
            for name, data in files.items():  # a fixed date: the same model gives the same bytes on every export
                archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
    return out.getvalue()


def write_metadata(path: Path, task: Mapping[str, Any], bundle: Path, classes: int,
                   takes_pixels: bool = False) -> dict[str, str]:
    """Rewrite the `.tflite` at `path` with its metadata (atomically); the converter facts to record."""
    if task.get("kind") not in ("image", "text"):
        return {"metadata": "none (no preprocessing to describe)"}
    metadata, files = build_metadata(task, bundle, classes, takes_pixels)
    atomic_write_bytes(path, with_metadata(path.read_bytes(), metadata, files))
    return {"metadata": f"TFLite metadata ({', '.join(['model', *files])})"}


def read_metadata(path: str | Path) -> tuple[Any, dict[str, bytes]]:
    """The metadata (`ModelMetadataT`) and associated files of a `.tflite` file: what MediaPipe reads."""
    meta, tfl = schema_modules()
    data = Path(path).read_bytes()
    graph = tfl.Model.GetRootAs(data, 0)
    for i in range(graph.MetadataLength()):
        if graph.Metadata(i).Name().decode() == METADATA_NAME:
            raw = graph.Buffers(graph.Metadata(i).Buffer()).DataAsNumpy().tobytes()
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                files = {name: archive.read(name) for name in archive.namelist()}
            return meta.ModelMetadataT.InitFromPackedBuf(bytearray(raw), 0), files
    raise ValueError(f"{path} holds no {METADATA_NAME}")
