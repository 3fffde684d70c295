"""Loading a bundle directory for `runtime.load`: which artifact, verified how, opened on which engine.

Which variant is picked when `variant=None`: the manifest's `recommended` one, else the first in the
variant table's order (`runtime.variants`) that passed export's checks (then one left unchecked); a
variant marked "failed" is loaded only when named. Variants whose engine is not installed come last,
and when the installed engine cannot run the chosen one (tflite-runtime 2.14 and a dynamic-range
model), the next is loaded with a warning.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from pathlib import Path
from typing import Any, Callable, TypeVar

from edgeport.runtime import backends, limits
from edgeport.runtime.alternatives import alternatives_text
from edgeport.runtime.bounded_json import parse_json
from edgeport.runtime.bundle_reader import BundleFiles, external_data, refuse_links
from edgeport.runtime.errors import EngineMissingError, EngineUnsupportedError, ManifestError, ModelFileError, UsageError
from edgeport.runtime.golden import is_golden
from edgeport.runtime.manifest import MANIFEST_NAME, Artifact, Manifest, TensorSpec, manifest_from_bytes
from edgeport.runtime.preprocess import make_preprocessor
from edgeport.runtime.staging import OLD_TAG, sibling_prefix
from edgeport.runtime.variants import LOAD_ORDER

SPEC_FIELDS = ("name", "shape", "dtype", "scale", "zero_point")
TENSOR_KIND = "tensor"  # a bundle without preprocessing: predict_tensor and run only
ATTEMPTS = 10  # loads of a bundle that a re-export swapped meanwhile (back-to-back swaps on a loaded machine)
T = TypeVar("T")


def wait_for_swap(path: Path, seconds: float = 2.0) -> bool:
    """Where a re-export swaps bundles with two renames (no atomic exchange), wait out the moment in
    which the bundle's path does not exist; True when there was such a moment."""
    deadline, waited = time.monotonic() + seconds, False
    prefix = sibling_prefix(path, OLD_TAG)
    while not path.exists() and time.monotonic() < deadline:
        try:
            swapping = any(p.name.startswith(prefix) for p in path.parent.iterdir())
        except OSError:
            return waited
        if not swapping:
            return waited
        waited = True
        time.sleep(0.001)
    return waited


def load_bundle(bundle: Path, variant: str | None, threads: int, backend: str | None,
                trusted_root: str | os.PathLike | None, make_model: Callable[..., T]) -> T:
    """The model of a bundle directory, as `make_model(engine, path=, manifest=, artifact=, preprocessor=,
    labels=, selection=)` builds it (`runtime.Model`). Every file is read through one handle on the bundle's
    directory and verified against the manifest before use; a load that fails because a re-export swapped
    the bundle meanwhile (the model's own checks included) is tried again on the new bundle."""
    for attempt in range(1, ATTEMPTS + 1):
        wait_for_swap(bundle)
        files = None
        try:
            files = BundleFiles(bundle)
            return _load_verified(bundle, files, variant, threads, backend, trusted_root, make_model)
        except (ManifestError, ModelFileError):
            swapping = files is None or files.swapped() or not bundle.is_dir()
            if attempt == ATTEMPTS or not swapping:
                raise
        finally:
            if files is not None:
                files.close()
    raise AssertionError("unreachable")


def _load_verified(bundle: Path, files: BundleFiles, variant: str | None, threads: int,
                   backend: str | None, trusted_root: str | os.PathLike | None, make_model: Callable[..., T]) -> T:
    refuse_links(bundle)
    manifest_bytes = files.manifest_bytes()
    if trusted_root is not None:  # the fleet tools (and python-tuf) are imported only when asked for
        from edgeport.runtime.fleet.trust import check_trusted

        check_trusted(manifest_bytes, trusted_root, str(bundle))
    manifest = manifest_from_bytes(manifest_bytes, str(bundle / MANIFEST_NAME))
    listed: dict[str, bytes] = {}
    for entry in manifest.files:  # every listed file is checked; golden samples are then used by `verify` only
        data = files.listed(manifest, entry.path, f"manifest.files: {entry.path}")
        if not is_golden(entry.path):
            listed[entry.path] = data
    candidates = ranked_artifacts(manifest, variant, backend)
    artifact, engine = _open_first_runnable(files, manifest, candidates, threads, backend)
    first = engine.inputs()[0].shape if engine.inputs() else None

    def read(relative: str, where: str) -> bytes:  # verified above; what is not listed is refused unread
        data = listed.get(relative.replace("\\", "/"))
        return data if data is not None else files.listed(manifest, relative, where)

    preprocessor = None if manifest.kind == TENSOR_KIND else make_preprocessor(manifest.kind, manifest.preprocessing,
                                                                               bundle, first, read=read)
    return make_model(engine, path=bundle, manifest=manifest, artifact=artifact, preprocessor=preprocessor,
                      labels=manifest.labels or _labels_file(listed, bundle),
                      selection=selection_reason(manifest, artifact, variant, candidates[0]))


def selection_reason(manifest: Manifest, artifact: Artifact, variant: str | None, first_choice: Artifact) -> str:
    """Why `load` picked `artifact`, in words (`info()["selected_because"]`)."""
    if variant is not None:
        return f"named by variant={variant!r}"
    if artifact.key != first_choice.key:
        return (f"{first_choice.key} was first choice but the installed engine cannot run it, "
                f"so the next usable variant was loaded")
    if artifact.key == manifest.recommended:
        return f"the manifest's recommended variant: {manifest.recommended_reason or 'no reason recorded'}"
    rec = f"the manifest recommends {manifest.recommended}, not usable here" if manifest.recommended else \
        "the manifest recommends none"
    return f"{rec}; {artifact.key} is the first {artifact.status} variant in the default order"


def _open_first_runnable(files: BundleFiles, manifest: Manifest, candidates: list[Artifact], threads: int,
                         backend: str | None) -> tuple[Artifact, backends.Backend]:
    """Verify and open the first candidate an installed engine runs; raise the first one's error if none."""
    failures: list[Exception] = []
    bundle = files.root
    for artifact in candidates:
        data = files.artifact(artifact)
        external = external_data(files, manifest, artifact, data) if artifact.format == "onnx" else None
        try:
            engine = backends.open_engine(data, artifact.format, threads, backend, verified=True,
                                          source=f"{artifact.key} ({artifact.file})", external_data=external)
        except (EngineUnsupportedError, EngineMissingError) as exc:
            failures.append(exc)
            continue
        check_specs(artifact, engine.inputs(), engine.outputs())
        if failures:
            warnings.warn(f"loaded {artifact.key} instead: {failures[0]}", stacklevel=4)
        return artifact, engine
    if isinstance(failures[0], EngineUnsupportedError):
        tried = [a.key for a in candidates]
        raise EngineUnsupportedError(f"{failures[0]}; {alternatives_text(bundle, backend, exclude=tried)}") from None
    raise failures[0]


def check_specs(artifact: Artifact, inputs: list[TensorSpec], outputs: list[TensorSpec]) -> None:
    """Refuse an artifact whose manifest entry describes other tensors than the engine reads in its file:
    count, then name, shape, dtype, scale and zero point of each input and output, in order."""
    redo = "the manifest does not describe this file: re-export the bundle (edgeport-export)"
    for role, listed, found in (("input", artifact.inputs, inputs), ("output", artifact.outputs, outputs)):
        if len(listed) != len(found):
            raise ModelFileError(f"{artifact.key}: the manifest lists {len(listed)} {role}s, {artifact.file} has "
                                 f"{len(found)}; {redo}")
        for i, (expected, actual) in enumerate(zip(listed, found)):
            for name in SPEC_FIELDS:
                want, got = getattr(expected, name), getattr(actual, name)
                if not _same_field(name, want, got):
                    raise ModelFileError(f"{artifact.key}: {role} {i} ({expected.name!r}) {name}: the manifest "
                                         f"expects {want!r}, {artifact.file} has {got!r}; {redo}")


def _same_field(name: str, want: Any, got: Any) -> bool:
    if name != "scale":
        return want == got
    want, got = want or None, got or None  # a scale of 0 means "not quantised", as no scale does
    if want is None or got is None:
        return want is got
    return math.isclose(want, got, rel_tol=1e-6)


def ranked_artifacts(manifest: Manifest, variant: str | None, backend: str | None) -> list[Artifact]:
    """The artifacts `load` may use, best first: only the named one, or the usable ones ranked."""
    fmt = backends.ENGINES[backend].format if backend else None
    if variant is not None:
        artifact = manifest.artifact(variant)
        if fmt and artifact.format != fmt:
            raise UsageError(f"backend {backend!r} runs .{fmt} models; variant {artifact.key} is .{artifact.format}")
        if artifact.status == "failed":
            warnings.warn(f"{artifact.key} failed export's parity checks; its answers may be wrong", stacklevel=4)
        return [artifact]
    usable = [a for a in manifest.artifacts if a.status != "failed" and (fmt is None or a.format == fmt)]
    if not usable:
        known = ", ".join(f"{a.key} ({a.status})" for a in manifest.artifacts) or "none"
        raise ManifestError(f"no variant of this bundle passed export's checks{' for ' + backend if backend else ''}; "
                            f"it has: {known}; name one with variant= to load it anyway")
    runnable = {e.format for e in backends.ENGINES.values() if backends.installed(e)}

    def rank(a: Artifact) -> tuple:
        order = LOAD_ORDER.index(a.key) if a.key in LOAD_ORDER else len(LOAD_ORDER)
        return (a.format not in runnable, a.key != manifest.recommended, a.status != "passed", order)

    return sorted(usable, key=rank)


def _labels_file(listed: dict[str, bytes], bundle: Path) -> list[str]:
    """The class names of `labels.json`, when the manifest lists it (its bytes verified already)."""
    if "labels.json" not in listed:
        return []
    labels = parse_json(listed["labels.json"], f"{bundle / 'labels.json'}", limits.MAX_MANIFEST_BYTES)
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise ManifestError(f"{bundle / 'labels.json'} must be a JSON list of class names; re-export the bundle")
    return labels
