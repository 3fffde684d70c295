"""`edgeport-run import`: a bundle around a `.tflite` or `.onnx` file made elsewhere, for raw input.

The file is copied in and described in a manifest (its sha256, size and tensors as the installed engine
reads them), with its labels and a preprocessing spec built from the options: a vocabulary and the
tokeniser's rules for a text model, size and pixel scale for an image model. With samples, the
outputs this device's engine gives for them are kept as golden samples (`golden/KEY.npz`), which
`edgeport-run verify` replays elsewhere. The bundle is written beside its path and swapped in whole
(`runtime.staging`). Device side: numpy and an engine, no TensorFlow.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from edgeport.runtime import backends
from edgeport.runtime.api import SUFFIXES, load
from edgeport.runtime.backends.onnx_external import external_tensors
from edgeport.runtime.errors import ManifestError, UsageError
from edgeport.runtime.golden import golden_file, is_golden, tolerance, write_golden
from edgeport.runtime.import_inputs import read_labels, read_samples, read_vocabulary
from edgeport.runtime.manifest import (
    MANIFEST_NAME, Artifact, FileEntry, Manifest, TensorSpec, safe_relative_path, write_manifest,
)
from edgeport.runtime.preprocess import INTERPOLATIONS, KERAS_FILTERS, ImagePreprocessor, TextPreprocessor
from edgeport.runtime.staging import staged_bundle

SPLIT_RULES = {"keras": None, "whitespace": r"\s+", "words": r"[^\w']+"}  # words: TFLite Model Maker's rule
NORMALIZATION_CHOICES = ("mobilenet", "unit", "imagenet-caffe", "none")
VOCAB_FILE, LABELS_FILE = "vocab.json", "labels.json"
VARIANT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class TextOptions:
    vocab: str
    maxlen: int | None = None
    padding: str = "pre"
    truncating: str = "pre"
    start_token: str | None = None
    oov_token: str | None = None
    pad_token: str | None = None
    lowercase: bool = True
    split: str = "keras"  # a SPLIT_RULES name, or "regex:PATTERN"


@dataclass(frozen=True)
class ImageOptions:
    size: tuple[int, int] | None = None
    normalization: str | None = None  # default: none for a uint8 input
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    interpolation: str = "bilinear"


def import_model(model: str | Path, out: str | Path, *, labels: str | Path | None = None,
                 text: TextOptions | None = None, image: ImageOptions | None = None,
                 samples: str | Path | None = None, variant: str | None = None, task: str | None = None) -> Manifest:
    """Write the bundle `out` around `model` (see the module doc); return its manifest. Every option is
    checked before anything is written: a bad one raises `UsageError` and leaves `out` as it was."""
    model, out = Path(model), Path(out)
    if text is not None and image is not None:
        raise UsageError("text options (--vocab, ...) and image options (--image-size, ...) exclude each other: "
                         "a bundle preprocesses texts or images")
    fmt, data = _read_model(model)
    external = _external_data(model, data) if fmt == "onnx" else {}
    inputs, outputs = backends.tensor_specs(data, fmt, source=model.name, external_data=external)
    variant = variant or ("int8" if all(s.quantized for s in inputs + outputs) else "fp32")
    if not VARIANT_NAME.match(variant):
        raise UsageError(f"--variant {variant!r}: use letters, digits, '.', '_' and '-' (e.g. int8, fp32)")
    kind = "text" if text is not None else "image" if image is not None or _looks_like_image(inputs) else None
    if kind is None:
        raise UsageError(f"{model.name} takes {_describe(inputs)}: pass --vocab (and text options) for a text model "
                         "or image options for an image model; for tensors, load the file itself (runtime.load) "
                         "and call Model.run")
    files: dict[str, bytes] = dict(external)  # listed, so runtime.load verifies and hands them to the engine
    if kind == "text":
        preprocessing, files[VOCAB_FILE] = text_spec(text, inputs)
    else:
        preprocessing = image_spec(image or ImageOptions(), inputs)
    names = read_labels(Path(labels), outputs) if labels is not None else []
    if names:
        files[LABELS_FILE] = json.dumps(names, ensure_ascii=False).encode("utf-8")
    feeds = read_samples(Path(samples), inputs) if samples is not None else None
    _refuse_other_directory(out)

    artifact = Artifact(fmt, variant, f"model.{variant}.{fmt}", hashlib.sha256(data).hexdigest(), len(data),
                        inputs, outputs, converter={"imported_from": model.name})
    if artifact.file in files:
        raise UsageError(f"{model.name} names its external data {artifact.file!r}, the name the bundle gives the model "
                         "itself; save the model with another location for its data")
    manifest = Manifest(task=task or _task_name(model), kind=kind, labels=names, preprocessing=preprocessing,
                        artifacts=[artifact], source_model={"file": model.name, "sha256": artifact.sha256},
                        recommended=artifact.key, recommended_reason=f"the only variant, imported from {model.name}",
                        files=[_entry(name, content) for name, content in files.items()])
    with staged_bundle(out, keep=lambda rel: False) as stage:
        (stage / artifact.file).write_bytes(data)
        for name, content in files.items():
            (stage / name).parent.mkdir(parents=True, exist_ok=True)
            (stage / name).write_bytes(content)
        write_manifest(stage, manifest)
        loaded = load(stage)  # the device's own path: every file verified, the preprocessing built
        if feeds is not None:
            results = loaded.run(feeds)
            path = write_golden(stage, artifact.key, feeds, results, tolerance(variant, results))
            manifest = replace(manifest, files=manifest.files + [_entry(golden_file(artifact.key), path.read_bytes())])
            write_manifest(stage, manifest)
    return manifest


# ---------------------------------------------------------------- the model


def _read_model(model: Path) -> tuple[str, bytes]:
    fmt = SUFFIXES.get(model.suffix.lower())
    if fmt is None:
        raise UsageError(f"{model.name} is not a .tflite or .onnx file: import takes one model file")
    if not model.is_file():
        raise UsageError(f"{model} does not exist or is not a file")
    return fmt, model.read_bytes()


def _external_data(model: Path, data: bytes) -> dict[str, bytes]:
    """The external data files an ONNX model names, read from beside it, by the location it names: copied
    into the bundle at that same relative path and listed, like every file the runtime reads."""
    found: dict[str, bytes] = {}
    folder = model.parent.resolve()
    for tensor in external_tensors(data, model.name) if data else []:
        if tensor.location in found:
            continue
        try:
            relative = safe_relative_path(tensor.location, f"{model.name}: external data of {tensor.name!r}")
        except ManifestError as exc:
            raise UsageError(str(exc)) from None
        path = (folder / relative).resolve()
        if folder not in path.parents or not path.is_file():
            raise UsageError(f"{model.name} keeps tensor {tensor.name!r} in {tensor.location!r}, which is not a file "
                             f"beside it in {folder}; copy the model's data files with it")
        if relative.replace("\\", "/") in (MANIFEST_NAME, VOCAB_FILE, LABELS_FILE) or is_golden(relative):
            raise UsageError(f"{model.name} names its external data {relative!r}, a name the bundle uses itself; "
                             "save the model with another location for its data")
        found[tensor.location] = path.read_bytes()
    return found


def _looks_like_image(inputs: list[TensorSpec]) -> bool:
    return len(inputs) == 1 and len(inputs[0].shape) == 4 and inputs[0].shape[3] == 3


def _describe(inputs: list[TensorSpec]) -> str:
    return ", ".join(f"{s.name} {s.dtype} {s.shape}" for s in inputs) or "no inputs"


def _task_name(model: Path) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", model.stem).strip("-") or "imported"


def _entry(name: str, content: bytes) -> FileEntry:
    return FileEntry(name, len(content), hashlib.sha256(content).hexdigest())


def _refuse_other_directory(out: Path) -> None:
    """Import replaces a bundle whole: refuse a path that holds anything else."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise UsageError(f"--out {out} exists and is not a directory; name a new directory or an existing bundle")
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST_NAME).is_file():
        raise UsageError(f"--out {out} is a directory that holds no bundle ({MANIFEST_NAME}); import replaces the "
                         "whole directory, so name a new one or an existing bundle")


# ---------------------------------------------------------------- text


def text_spec(options: TextOptions, inputs: list[TensorSpec]) -> tuple[dict[str, Any], bytes]:
    """The manifest's text preprocessing for `options`, and the vocabulary as `vocab.json` bytes."""
    if len(inputs) != 1 or len(inputs[0].shape) != 2:
        raise UsageError(f"the text preprocessing feeds one input of shape (batch, length); this model takes "
                         f"{_describe(inputs)}: load the file itself and call Model.run")
    spec_in = inputs[0]
    if spec_in.quantized or spec_in.dtype not in ("int32", "int64", "int16", "float32", "float16", "float64"):
        raise UsageError(f"input {spec_in.name!r} is {spec_in.dtype}{' (quantised)' if spec_in.quantized else ''}; "
                         "token ids are fed as integers or floats")
    length = spec_in.shape[1]
    maxlen = options.maxlen if options.maxlen is not None else length
    if maxlen is None or maxlen < 1 or (length is not None and maxlen != length):
        raise UsageError(f"--maxlen {options.maxlen}: the model takes sequences of "
                         f"{length if length is not None else 'any length'}; "
                         + ("pass --maxlen N" if length is None else f"use {length} (the default)"))
    vocab = read_vocabulary(Path(options.vocab))
    special = {role: _token_id(vocab, token, flag, options.vocab) for role, token, flag in (
        ("start", options.start_token, "--start-token"), ("oov", options.oov_token, "--oov-token"),
        ("pad", options.pad_token, "--pad-token"))}
    if options.split in SPLIT_RULES:
        pattern = SPLIT_RULES[options.split]
    elif options.split.startswith("regex:"):
        pattern = options.split[len("regex:"):]
    else:
        raise UsageError(f"--split {options.split!r}: use {', '.join(SPLIT_RULES)} or regex:PATTERN")
    spec = {"type": "text", "vocabulary": VOCAB_FILE, "num_words": max(vocab.values()) + 1, "skip_top": 0,
            "start_char": special["start"], "oov_char": special["oov"], "index_from": 0, "maxlen": maxlen,
            "padding": options.padding, "truncating": options.truncating, "lowercase": options.lowercase,
            "filters": KERAS_FILTERS, "split": " ", "pad_char": special["pad"] or 0, "split_pattern": pattern}
    try:
        TextPreprocessor(spec, vocab, length)
    except ManifestError as exc:
        raise UsageError(str(exc).replace("manifest.preprocessing.", "text option ")) from None
    return spec, json.dumps(vocab, ensure_ascii=False).encode("utf-8")


def _token_id(vocab: dict[str, int], token: str | None, flag: str, where: str) -> int | None:
    if token is None:
        return None
    if token not in vocab:
        special = [w for w in vocab if re.fullmatch(r"<[^<>]*>|\[[^\[\]]*\]", w)][:8]
        hint = f" (its special tokens: {', '.join(special)})" if special else ""
        raise UsageError(f"{flag} {token!r} is not in the vocabulary {where}{hint}; name the token as the file spells it")
    return vocab[token]


# ---------------------------------------------------------------- images


def image_spec(options: ImageOptions, inputs: list[TensorSpec]) -> dict[str, Any]:
    """The manifest's image preprocessing for `options` and the model's one (batch, height, width, 3) input."""
    if not _looks_like_image(inputs):
        raise UsageError(f"the image preprocessing feeds one input of shape (batch, height, width, 3); this model "
                         f"takes {_describe(inputs)}: load the file itself and call Model.run")
    spec_in = inputs[0]
    fixed = tuple(spec_in.shape[1:3])
    size = tuple(options.size) if options.size is not None else fixed
    if None in size or min(size) < 1 or (None not in fixed and size != fixed):
        raise UsageError(f"--image-size: the model takes {list(fixed)} (height, width; None: any); "
                         + ("pass --image-size H W" if None in fixed else f"use {fixed[0]} {fixed[1]} (the default)"))
    if (options.mean is None) != (options.std is None):
        raise UsageError("--mean and --std go together: pass both (three numbers each, in pixel units 0..255)")
    normalization = options.normalization
    if options.mean is not None:
        if normalization not in (None, "mean-std"):
            raise UsageError(f"--normalization {normalization} and --mean/--std exclude each other: pass one")
        normalization = "mean-std"
    raw_integers = spec_in.dtype in ("uint8", "int8") and not spec_in.quantized
    if normalization is None:
        if spec_in.dtype != "uint8":
            raise UsageError(f"input {spec_in.name!r} takes {spec_in.dtype}: pass --normalization "
                             f"({', '.join(NORMALIZATION_CHOICES)}) or --mean/--std, as the model was trained")
        normalization = "none"
    if raw_integers and (normalization != "none" or spec_in.dtype != "uint8"):
        raise UsageError(f"input {spec_in.name!r} takes {spec_in.dtype} values that are not quantised: only raw "
                         "uint8 pixels fit (--normalization none)")
    if options.interpolation not in INTERPOLATIONS:
        raise UsageError(f"--interpolation {options.interpolation!r}: use one of {', '.join(INTERPOLATIONS)}")
    spec: dict[str, Any] = {"type": "image", "size": [int(size[0]), int(size[1])],
                            "interpolation": options.interpolation, "color_mode": "rgb", "normalization": normalization}
    if normalization == "mean-std":
        spec.update(mean=[float(v) for v in options.mean], std=[float(v) for v in options.std])
    if normalization == "none" and spec_in.dtype == "uint8":
        spec["dtype"] = "uint8"  # raw pixels, fed as they are (never quantised again)
    try:
        ImagePreprocessor(spec, spec_in.shape)
    except ManifestError as exc:
        raise UsageError(str(exc).replace("manifest.preprocessing.", "image option ")) from None
    return spec
