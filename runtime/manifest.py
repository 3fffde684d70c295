"""The bundle manifest: the contract between `export` (which writes it) and `runtime` (which reads it).

A bundle is a directory holding model files, the files preprocessing needs
(`vocab.json` or `labels.json`) and `manifest.json`. Paths in the manifest are
relative to the bundle and may not leave it.

Every file the runtime reads is listed with its size and sha256: model files as `artifacts`, the
others (vocabulary, labels, golden samples, external model data) as `files`. The runtime reads each
file once, checks exactly those bytes and uses them; it reads nothing the manifest does not list, and
refuses a bundle that holds a symbolic link. `manifest.json` itself is bounded (`limits`) before it
is parsed, and carries its own digest (`manifest_digest`), checked before any field is used.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgeport.runtime import limits
from edgeport.runtime.bounded_json import parse_json, read_bounded
from edgeport.runtime.errors import ManifestError, ModelFileError
from edgeport.runtime.atomic_files import atomic_write_bytes
from edgeport.runtime.manifest_digest import check_digest, rendered, signed
from edgeport.runtime.variants import FORMATS

SCHEMA_VERSION = 2
MANIFEST_NAME = "manifest.json"
TASK_KINDS = ("text", "image", "tensor")  # "tensor": no preprocessing, model-ready tensors in
STATUSES = ("passed", "failed", "unchecked")


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of a model file."""

    name: str
    shape: list[int | None]
    dtype: str
    scale: float | None = None
    zero_point: int | None = None

    @property
    def quantized(self) -> bool:
        return self.scale is not None and self.scale != 0.0


@dataclass(frozen=True)
class Artifact:
    """One exported model file and what was measured of it."""

    format: str
    variant: str
    file: str
    sha256: str
    size: int
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    converter: dict[str, str] = field(default_factory=dict)
    opset: int | None = None
    status: str = "unchecked"
    parity: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """The name users pick a variant by, e.g. `tflite-int8` or `onnx-static-int8`."""
        return f"{self.format}-{self.variant}"


@dataclass(frozen=True)
class FileEntry:
    """One file other than a model that the runtime reads (vocabulary, labels, golden samples)."""

    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    """Everything the device needs to know about a bundle."""

    task: str
    kind: str
    labels: list[str]
    preprocessing: dict[str, Any]
    artifacts: list[Artifact]
    source_model: dict[str, Any] = field(default_factory=dict)
    recommended: str | None = None
    recommended_reason: str | None = None
    files: list[FileEntry] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSION

    def file_entry(self, path: str) -> FileEntry | None:
        """The `files` entry for `path` (relative to the bundle), or None when the manifest lists none."""
        wanted = path.replace("\\", "/")
        return next((f for f in self.files if f.path == wanted), None)

    def artifact(self, key: str) -> Artifact:
        """The artifact named `key` (`tflite-int8`), or by bare variant (`static-int8`) when that is unique."""
        exact = [a for a in self.artifacts if a.key == key]
        by_variant = [a for a in self.artifacts if a.variant == key]
        found = exact or by_variant
        if len(found) == 1:
            return found[0]
        known = ", ".join(a.key for a in self.artifacts) or "none"
        if not found:
            raise ManifestError(f"the bundle has no variant {key!r}; it has: {known}")
        raise ManifestError(f"variant {key!r} is ambiguous; name one of: {known}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------- validation


def _require(doc: dict, key: str, kind: type | tuple, where: str) -> Any:
    if key not in doc:
        raise ManifestError(f"{where}: missing field {key!r}")
    value = doc[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise ManifestError(f"{where}: field {key!r} should be {_kind_name(kind)}, got {type(value).__name__}")
    return value


def _kind_name(kind: type | tuple) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)


def safe_relative_path(relative: str, where: str) -> str:
    """Refuse a path that is absolute, climbs out of the bundle, or holds what no file name can (NUL)."""
    if not isinstance(relative, str) or "\0" in relative or not _encodable(relative):
        raise ManifestError(f"{where}: path {relative!r} holds a character no file name can (NUL or a lone "
                            "surrogate); re-export the bundle")
    if not relative or os.path.isabs(relative) or relative.startswith(("/", "\\")):
        raise ManifestError(f"{where}: path {relative!r} must be relative to the bundle directory")
    parts = Path(relative.replace("\\", "/")).parts
    if ".." in parts:
        raise ManifestError(f"{where}: path {relative!r} points outside the bundle directory")
    return relative


def _encodable(text: str) -> bool:
    try:
        os.fsencode(text)
    except UnicodeError:
        return False
    return True


def _tensor_from_dict(doc: Any, where: str) -> TensorSpec:
    if not isinstance(doc, dict):
        raise ManifestError(f"{where}: expected an object")
    name = _require(doc, "name", str, where)
    shape = _require(doc, "shape", list, where)
    if not all(d is None or (isinstance(d, int) and not isinstance(d, bool)) for d in shape):
        raise ManifestError(f"{where}: shape must hold integers or null, got {shape}")
    dtype = _require(doc, "dtype", str, where)
    scale, zero_point = doc.get("scale"), doc.get("zero_point")
    if scale is not None and not isinstance(scale, (int, float)):
        raise ManifestError(f"{where}: scale must be a number")
    if zero_point is not None and not isinstance(zero_point, int):
        raise ManifestError(f"{where}: zero_point must be an integer")
    return TensorSpec(name, shape, dtype, None if scale is None else float(scale), zero_point)


def _hash_and_size(doc: dict, where: str) -> tuple[str, int]:
    sha = _require(doc, "sha256", str, where)
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise ManifestError(f"{where}: sha256 must be 64 lowercase hex digits")
    size = _require(doc, "size", int, where)
    if size < 0:
        raise ManifestError(f"{where}: size must not be negative")
    return sha, size


def _file_from_dict(doc: Any, where: str) -> FileEntry:
    if not isinstance(doc, dict):
        raise ManifestError(f"{where}: expected an object")
    sha, size = _hash_and_size(doc, where)
    path = safe_relative_path(_require(doc, "path", str, where), where)
    return FileEntry(path.replace("\\", "/"), size, sha)


def _optional(doc: dict, key: str, kind: type | tuple, where: str) -> Any:
    value = doc.get(key)
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool) and kind is not bool):
        raise ManifestError(f"{where}: field {key!r} should be {_kind_name(kind)} or absent, got {type(value).__name__}")
    return value


def _artifact_from_dict(doc: Any, where: str) -> Artifact:
    if not isinstance(doc, dict):
        raise ManifestError(f"{where}: expected an object")
    fmt = _require(doc, "format", str, where)
    if fmt not in FORMATS:
        raise ManifestError(f"{where}: format {fmt!r} is not one of {', '.join(FORMATS)}")
    sha, size = _hash_and_size(doc, where)
    status = doc.get("status", "unchecked")
    if status not in STATUSES:
        raise ManifestError(f"{where}: status {status!r} is not one of {', '.join(STATUSES)}")
    inputs = [_tensor_from_dict(t, f"{where}.inputs[{i}]") for i, t in enumerate(_require(doc, "inputs", list, where))]
    outputs = [_tensor_from_dict(t, f"{where}.outputs[{i}]") for i, t in enumerate(_require(doc, "outputs", list, where))]
    return Artifact(
        format=fmt,
        variant=_require(doc, "variant", str, where),
        file=safe_relative_path(_require(doc, "file", str, where), where),
        sha256=sha,
        size=size,
        inputs=inputs,
        outputs=outputs,
        converter=dict(_optional(doc, "converter", dict, where) or {}),
        opset=_optional(doc, "opset", int, where),
        status=status,
        parity=dict(_optional(doc, "parity", dict, where) or {}),
    )


def manifest_from_dict(doc: Any) -> Manifest:
    """Validate a parsed manifest document; raise `ManifestError` naming the first problem."""
    if not isinstance(doc, dict):
        raise ManifestError("manifest: expected a JSON object at the top level")
    version = _require(doc, "schema_version", int, "manifest")
    if version != SCHEMA_VERSION:
        raise ManifestError(
            f"manifest: schema_version {version} is not supported (this runtime reads {SCHEMA_VERSION}); "
            "re-export the bundle or upgrade edgeport"
        )
    kind = _require(doc, "kind", str, "manifest")
    if kind not in TASK_KINDS:
        raise ManifestError(f"manifest: kind {kind!r} is not one of {', '.join(TASK_KINDS)}")
    preprocessing = _require(doc, "preprocessing", dict, "manifest")
    for key in ("vocabulary",):
        if key in preprocessing:
            if not isinstance(preprocessing[key], str):
                raise ManifestError(f"manifest.preprocessing.{key} must be a file name, got {preprocessing[key]!r}")
            safe_relative_path(preprocessing[key], f"manifest.preprocessing.{key}")
    artifacts = [_artifact_from_dict(a, f"manifest.artifacts[{i}]") for i, a in enumerate(_require(doc, "artifacts", list, "manifest"))]
    keys = [a.key for a in artifacts]
    if len(set(keys)) != len(keys):
        raise ManifestError(f"manifest: variants are listed twice: {keys}")
    recommended = doc.get("recommended")
    if recommended is not None and (not isinstance(recommended, str) or recommended not in keys):
        raise ManifestError(f"manifest: recommended variant {recommended!r} is not among the artifacts {keys}")
    labels = _require(doc, "labels", list, "manifest")
    if not all(isinstance(label, str) for label in labels):
        raise ManifestError("manifest: labels must be strings")
    files = [_file_from_dict(f, f"manifest.files[{i}]") for i, f in enumerate(_optional(doc, "files", list, "manifest") or [])]
    paths = [f.path for f in files] + [a.file.replace("\\", "/") for a in artifacts]
    if len(set(paths)) != len(paths):
        raise ManifestError(f"manifest: a file is listed twice: {sorted(p for p in paths if paths.count(p) > 1)}")
    if MANIFEST_NAME in paths:
        raise ManifestError(f"manifest: {MANIFEST_NAME} cannot list itself")
    return Manifest(
        task=_require(doc, "task", str, "manifest"),
        kind=kind,
        labels=labels,
        preprocessing=preprocessing,
        artifacts=artifacts,
        source_model=dict(_optional(doc, "source_model", dict, "manifest") or {}),
        recommended=recommended,
        recommended_reason=_optional(doc, "recommended_reason", str, "manifest"),
        files=files,
        schema_version=version,
    )


# ---------------------------------------------------------------- files


def read_manifest(bundle_dir: str | os.PathLike) -> Manifest:
    """Read and validate `bundle_dir/manifest.json` (bounded in size and depth before parsing)."""
    path = Path(bundle_dir) / MANIFEST_NAME
    if path.is_symlink():
        raise ManifestError(f"{path} is a symbolic link; a bundle holds plain files only: re-copy the bundle")
    if not path.is_file():
        raise ManifestError(f"no {MANIFEST_NAME} in {bundle_dir}: export the model first (edgeport-export)")
    return manifest_from_bytes(read_bounded(path, limits.MAX_MANIFEST_BYTES, ManifestError), str(path))


def manifest_from_bytes(data: bytes, where: str = MANIFEST_NAME) -> Manifest:
    """Parse and validate manifest bytes: bounded size and depth, UTF-8, no duplicate keys, then its
    digest (`manifest_digest.check_digest`), then every field."""
    doc = parse_json(data, where, limits.MAX_MANIFEST_BYTES)
    check_digest(doc, data, where)
    return manifest_from_dict(doc)


def write_manifest(bundle_dir: str | os.PathLike, manifest: Manifest) -> Path:
    """Validate, sign (`manifest_sha256`) and write the manifest atomically (`atomic_files.atomic_write_bytes`)."""
    data = rendered(signed(manifest.to_dict()))
    manifest_from_bytes(data)  # never write what cannot be read back
    return atomic_write_bytes(Path(bundle_dir) / MANIFEST_NAME, data)


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve_bundle_path(bundle_dir: str | os.PathLike, relative: str, where: str) -> Path:
    """A file named by the manifest, inside the bundle; refuses a path (or link) that leads out of it."""
    root = Path(bundle_dir).resolve()
    path = (root / safe_relative_path(relative, where)).resolve()
    if root not in path.parents:
        raise ManifestError(f"{where}: file {relative!r} points outside the bundle directory {root}")
    return path


def resolve_artifact_path(bundle_dir: str | os.PathLike, artifact: Artifact) -> Path:
    """The artifact's file inside the bundle; refuses a path (or link) that leads out of it."""
    return resolve_bundle_path(bundle_dir, artifact.file, artifact.key)


def verify_artifact(bundle_dir: str | os.PathLike, artifact: Artifact) -> Path:
    """Check size and sha256 of an artifact (as `read_verified_artifact` does); return its path."""
    read_verified_artifact(bundle_dir, artifact)
    return resolve_artifact_path(bundle_dir, artifact)


def read_verified_artifact(bundle_dir: str | os.PathLike, artifact: Artifact) -> bytes:
    """Read an artifact once and check size and sha256 of exactly those bytes; return them.

    The runtime hands these bytes to the engine, so the file cannot change between the check
    and the load (`runtime.load` reads through `bundle_reader.BundleFiles` instead, which also
    refuses links and reads every file of one load from the same directory).
    """
    path = resolve_artifact_path(bundle_dir, artifact)
    if not path.is_file():
        raise ModelFileError(f"{artifact.key}: model file {path} is missing; re-export the bundle")
    data = path.read_bytes()
    if len(data) != artifact.size:
        raise ModelFileError(
            f"{artifact.key}: {path.name} is {len(data)} bytes, the manifest says {artifact.size}; "
            "the file is truncated or was replaced: re-export or re-copy the bundle"
        )
    digest = hashlib.sha256(data).hexdigest()
    if digest != artifact.sha256:
        raise ModelFileError(
            f"{artifact.key}: sha256 of {path.name} is {digest[:12]}…, the manifest says {artifact.sha256[:12]}…; "
            "the file is corrupt or was modified: re-export or re-copy the bundle"
        )
    return data
