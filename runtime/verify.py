"""`edgeport-run verify`: a bundle checks itself with the engine installed here.

For each artifact with golden samples (`runtime.golden`) the variant is loaded as `runtime.load` loads
it, with that variant and no other (a named variant is never replaced by another one), the golden
inputs go through `Model.run`, and the outputs are compared with the workstation's. One verdict per
variant:

    matches            every output within the golden file's atol (`runtime.tolerance`)
    differs            an output further from the workstation's than atol (which one, by how much)
    cannot run here    no engine installed here runs this variant (why; which variants do)
    damaged            the model or golden file does not match the manifest, or cannot be read
    no golden samples  the bundle was exported without them: re-export it
    not checked        the variant's format is not the one `backend` runs
"""

from __future__ import annotations

import os
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeport.runtime import backends
from edgeport.runtime.alternatives import alternatives_text, runnable_variants
from edgeport.runtime.api import Model, load
from edgeport.runtime.bundle_reader import BundleFiles
from edgeport.runtime.errors import (
    EngineMissingError, EngineUnsupportedError, InferenceError, InputError, ManifestError, ModelFileError, UsageError,
)
from edgeport.runtime.golden import Golden, golden_file, read_golden
from edgeport.runtime.manifest import MANIFEST_NAME, Artifact, read_manifest
from edgeport.runtime.tolerance import within_tolerance

MATCHES, DIFFERS, CANNOT_RUN = "matches", "differs", "cannot run here"
DAMAGED, NO_GOLDEN, NOT_CHECKED = "damaged", "no golden samples", "not checked"
VERDICTS = (MATCHES, DIFFERS, CANNOT_RUN, DAMAGED, NO_GOLDEN, NOT_CHECKED)


@dataclass(frozen=True)
class VariantCheck:
    """What `verify_bundle` found for one variant."""

    variant: str
    verdict: str  # one of VERDICTS
    detail: str = ""  # in words: why it differs, cannot run, is damaged; empty when it matches
    max_abs_diff: float | None = None  # largest |Δ| over every output (matches, differs)
    atol: float | None = None  # the golden file's tolerance
    output: str | None = None  # the output with the largest |Δ|
    samples: int = 0  # golden items replayed
    engine: str | None = None  # the engine that ran it, and its version
    engine_version: str | None = None
    runs_here: list[str] = field(default_factory=list)  # cannot run here: variants that do

    @property
    def passed(self) -> bool:
        return self.verdict == MATCHES

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def verify_bundle(path: str | os.PathLike, variant: str | None = None, backend: str | None = None,
                  threads: int | None = None) -> list[VariantCheck]:
    """Check every variant of the bundle at `path` (or only `variant`) against its golden samples, on
    `backend` when given (then variants of the other format are "not checked"). `UsageError` when
    `path` is no bundle, `variant` is not in it, or `backend` is unknown or runs another format."""
    bundle = Path(path)
    if not bundle.is_dir() or not (bundle / MANIFEST_NAME).exists():
        raise UsageError(f"{bundle} is not a bundle directory (none with {MANIFEST_NAME} there): "
                         "pass the folder edgeport-export wrote")
    backend = backends.canonical(backend)
    fmt = backends.ENGINES[backend].format if backend else None
    manifest = read_manifest(bundle)
    if variant is not None:
        try:
            artifacts = [manifest.artifact(variant)]
        except ManifestError as exc:
            raise UsageError(str(exc)) from None
        if fmt and artifacts[0].format != fmt:
            raise UsageError(f"backend {backend!r} runs .{fmt} models; variant {artifacts[0].key} is "
                             f".{artifacts[0].format}")
    else:
        artifacts = manifest.artifacts
    return [check_variant(bundle, a, backend, threads) if fmt in (None, a.format) else
            VariantCheck(a.key, NOT_CHECKED, f"backend {backend} runs .{fmt} models only")
            for a in artifacts]


def check_variant(bundle: Path, artifact: Artifact, backend: str | None, threads: int | None) -> VariantCheck:
    """Load exactly `artifact`, replay its golden inputs and compare (see the module's verdicts)."""
    key = artifact.key
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a variant that failed export's checks is checked all the same
            model = load(bundle, variant=key, threads=threads, backend=backend)
    except (EngineUnsupportedError, EngineMissingError) as exc:
        detail = str(exc)
        if isinstance(exc, EngineMissingError):  # the unsupported error names the alternatives already
            detail += f"; {alternatives_text(bundle, backend, exclude=[key])}"
        runs_here = [v for v, _ in runnable_variants(bundle, backend, exclude=[key])]
        return VariantCheck(key, CANNOT_RUN, detail, runs_here=runs_here)
    except (ModelFileError, ManifestError) as exc:
        return VariantCheck(key, DAMAGED, str(exc))
    engine = {"engine": model.engine.name, "engine_version": model.engine.version}
    if model.manifest.file_entry(golden_file(key)) is None:
        return VariantCheck(key, NO_GOLDEN, f"the manifest lists no {golden_file(key)}: the bundle was exported "
                            "without golden samples; re-export it with this version of edgeport", **engine)
    where = f"{key}: golden samples"
    try:
        with BundleFiles(bundle) as files:
            golden = read_golden(files.listed(model.manifest, golden_file(key), where), where)
        return compare(key, model, golden, engine)
    except (ModelFileError, ManifestError) as exc:
        return VariantCheck(key, DAMAGED, str(exc), **engine)


def compare(key: str, model: Model, golden: Golden, engine: dict[str, str]) -> VariantCheck:
    """Run the golden inputs once and compare every output with the workstation's."""
    damaged = f"{golden_file(key)} does not fit {key}'s model"
    names = [s.name for s in model.input_specs]
    if sorted(golden.inputs) != sorted(names):
        return VariantCheck(key, DAMAGED, f"{damaged}: it holds inputs {sorted(golden.inputs)}, the model takes "
                            f"{names}; re-export the bundle", **engine)
    try:
        outputs = model.run(golden.inputs)
    except InputError as exc:
        return VariantCheck(key, DAMAGED, f"{damaged}: {exc}", **engine)
    except InferenceError as exc:
        return VariantCheck(key, CANNOT_RUN, str(exc), **engine)
    if sorted(golden.outputs) != sorted(outputs):
        return VariantCheck(key, DAMAGED, f"{damaged}: it holds outputs {sorted(golden.outputs)}, the model gives "
                            f"{sorted(outputs)}; re-export the bundle", **engine)
    samples = min((int(np.shape(x)[0]) if np.ndim(x) else 1) for x in golden.inputs.values())
    worst, worst_name, all_within = -1.0, None, True
    for name, want in golden.outputs.items():
        got = outputs[name]
        if got.shape != want.shape:
            return VariantCheck(key, DAMAGED, f"{damaged}: output {name!r} has shape {want.shape} there, the model "
                                f"gives {got.shape}; re-export the bundle", **engine)
        within, largest = within_tolerance(got, want, golden.atol)
        all_within = all_within and within
        if largest > worst:
            worst, worst_name = largest, name
    figures = {"max_abs_diff": worst, "atol": golden.atol, "output": worst_name, "samples": samples, **engine}
    if all_within:
        return VariantCheck(key, MATCHES, **figures)
    return VariantCheck(key, DIFFERS, f"output {worst_name!r} differs from the workstation's by up to {worst:.3g} "
                        f"(atol {golden.atol:.3g}) on {samples} golden samples", **figures)


def summary(checks: list[VariantCheck]) -> str:
    """'3 variants checked: 2 match, 1 cannot run here' — the last line `edgeport-run verify` prints."""
    checked = [c for c in checks if c.verdict != NOT_CHECKED]
    if not checked:
        return "no variant checked"
    counts = [(v, sum(c.verdict == v for c in checked)) for v in VERDICTS if v != NOT_CHECKED]
    words = {MATCHES: "match", DIFFERS: "differ"}
    parts = [f"{n} {words.get(v, v) if n > 1 else v}" for v, n in counts if n]
    return f"{len(checked)} variant{'s' if len(checked) != 1 else ''} checked: " + ", ".join(parts)


def all_match(checks: list[VariantCheck]) -> bool:
    """Whether at least one variant was checked and every checked one matches."""
    checked = [c for c in checks if c.verdict != NOT_CHECKED]
    return bool(checked) and all(c.passed for c in checked)
