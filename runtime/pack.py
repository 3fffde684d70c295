"""`edgeport-run pack`: the device bundle, only what a board needs.

From a full bundle it copies the chosen variants (default: the recommended one), the files preprocessing
reads (vocabulary, labels), each chosen variant's golden samples and the external data an ONNX variant
names, and writes a manifest of its own that lists and hashes every one of them. No `keras/`, no report,
no other variant. Every file is read once and checked against the full bundle's manifest before it is
copied; the device bundle is built in a staging folder beside `out` and swapped in whole
(`runtime.staging`), so an interrupted pack leaves no half-written folder. The result loads, verifies
and serves like the full bundle.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

from edgeport.runtime.backends.onnx_external import external_tensors
from edgeport.runtime.bundle_reader import BundleFiles, refuse_links
from edgeport.runtime.errors import ManifestError, MissingBundleError, UsageError
from edgeport.runtime.golden import golden_file, is_golden
from edgeport.runtime.manifest import MANIFEST_NAME, Artifact, FileEntry, Manifest, write_manifest
from edgeport.runtime.staging import staged_bundle


@dataclass(frozen=True)
class Packed:
    """What `pack_bundle` wrote: the device bundle's manifest and the size of every file in it."""

    out: Path
    manifest: Manifest
    sizes: dict[str, int]  # path in the device bundle → bytes, manifest.json included

    @property
    def total(self) -> int:
        return sum(self.sizes.values())


def choose_variants(manifest: Manifest, keys: Sequence[str] | None) -> list[Artifact]:
    """The artifacts to pack: those named (each once, in the order given), else the recommended one."""
    if not keys:
        if manifest.recommended is None:
            known = ", ".join(a.key for a in manifest.artifacts) or "none"
            raise UsageError(f"the bundle recommends no variant (none passed its checks at export); name one with "
                             f"--variant KEY (it has: {known})")
        keys = [manifest.recommended]
    chosen: list[Artifact] = []
    for key in keys:
        artifact = manifest.artifact(key)
        if artifact.status == "failed":
            raise UsageError(f"{artifact.key} failed its checks at export (report.md says why); pack a variant that "
                             f"passed: {', '.join(a.key for a in manifest.artifacts if a.status == 'passed') or 'none'}")
        if artifact not in chosen:
            chosen.append(artifact)
    return chosen


def _check_out(bundle: Path, out: Path) -> None:
    source, target = bundle.resolve(), out.resolve()
    if target == source or source in target.parents or target in source.parents:
        raise UsageError(f"--out {out} overlaps the bundle {bundle}: pass a folder outside it")
    if out.is_symlink() or out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a folder: pass a new folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST_NAME).is_file():
        raise UsageError(f"--out {out} is a folder that holds files but no bundle; pack into a new or empty folder "
                         "(a bundle there is replaced whole)")


# ONNX Runtime Mobile's operator list, which an app build takes (docs/phone.md) and a board never reads. The
# `.ort` files themselves are not among the manifest's files (each .onnx artifact's parity["ort"] lists its own).
PHONE_ONLY_FILES = frozenset({"required_operators.config"})


def _kept_files(manifest: Manifest, chosen: list[Artifact], files: BundleFiles) -> list[FileEntry]:
    """The chosen variants' golden samples and external data, and every listed file that belongs to no variant
    (but those for phone apps)."""
    def external(artifact: Artifact) -> set[str]:
        data = files.artifact(artifact)
        return {t.location for t in external_tensors(data, artifact.key)}

    onnx = [a for a in manifest.artifacts if a.format == "onnx"]
    wanted = {golden_file(a.key) for a in chosen}.union(*(external(a) for a in chosen if a.format == "onnx"))
    of_variants = set().union(*(external(a) for a in onnx))
    return [f for f in manifest.files
            if f.path in wanted or not (is_golden(f.path) or f.path in of_variants or f.path in PHONE_ONLY_FILES)]


def pack_bundle(bundle: str | os.PathLike, out: str | os.PathLike, variants: Sequence[str] | None = None) -> Packed:
    """Write the device bundle of `bundle` into `out` (replaced whole if it is a bundle); see the module doc."""
    bundle, out = Path(bundle), Path(out)
    if not bundle.exists():
        raise MissingBundleError(f"{bundle} does not exist: pass the bundle folder edgeport-export wrote (with manifest.json)")
    if not bundle.is_dir():
        raise UsageError(f"{bundle} is not a bundle directory: pass the folder edgeport-export wrote (with manifest.json)")
    _check_out(bundle, out)
    refuse_links(bundle)
    with BundleFiles(bundle) as files:
        manifest = files.manifest()
        chosen = choose_variants(manifest, variants)
        contents = {a.file: files.artifact(a) for a in chosen}
        kept = _kept_files(manifest, chosen, files)
        contents.update({f.path: files.listed(manifest, f.path, "pack") for f in kept})
    missing = [a.key for a in chosen if golden_file(a.key) not in contents]
    if missing:
        raise ManifestError(f"{', '.join(missing)}: no golden samples in {bundle}, so the device could not verify it; "
                            "re-export the bundle with this version of edgeport")
    keys = [a.key for a in chosen]
    recommended, reason = manifest.recommended, manifest.recommended_reason
    if recommended not in keys:
        recommended, reason = keys[0], "the first variant packed (edgeport-run pack --variant)"
    packed = replace(manifest, artifacts=chosen, files=kept, recommended=recommended, recommended_reason=reason)
    with staged_bundle(out, keep=lambda rel: False) as stage:
        for relative, data in contents.items():
            target = stage / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        write_manifest(stage, packed)
        sizes = {relative: len(data) for relative, data in contents.items()}
        sizes[MANIFEST_NAME] = (stage / MANIFEST_NAME).stat().st_size
    return Packed(out, packed, sizes)
