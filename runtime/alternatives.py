"""Which variants of a bundle run on the engines installed here: what a load that cannot run the
asked variant suggests instead. Part of the core; the compatibility matrix (`runtime.compat`) uses it too."""

from __future__ import annotations

import os
import warnings
from typing import Iterable

from edgeport.runtime import backends
from edgeport.runtime.errors import EdgeportError
from edgeport.runtime.bundle_reader import BundleFiles, external_data
from edgeport.runtime.manifest import read_manifest


def runnable_variants(bundle: str | os.PathLike, backend: str | None = None,
                      exclude: Iterable[str] = ()) -> list[tuple[str, str]]:
    """(variant, engine) for every variant of `bundle` that loads here: on `backend` for its format
    (when given), else on the first installed engine that opens it. Files are verified; nothing runs."""
    manifest, skip, found = read_manifest(bundle), set(exclude), []
    for artifact in manifest.artifacts:
        if artifact.key in skip:
            continue
        engines = [e for e in backends.engines_for(artifact.format) if backends.installed(e)]
        if backend is not None and backends.ENGINES[backend].format == artifact.format:
            engines = [e for e in engines if e.name == backend]
        for engine in engines:
            try:
                with BundleFiles(bundle) as files:
                    data = files.artifact(artifact)
                    external = external_data(files, manifest, artifact, data) if artifact.format == "onnx" else None
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    backends.open_engine(data, artifact.format, 1, engine.name, verified=True, source=artifact.key,
                                         external_data=external)
            except EdgeportError:
                continue
            found.append((artifact.key, engine.name))
            break
    return found


def alternatives_text(bundle: str | os.PathLike, backend: str | None = None, exclude: Iterable[str] = ()) -> str:
    """'variants that run here: tflite-fp32, tflite-int8 (tflite-runtime); onnx-fp32 (onnxruntime)'."""
    by_engine: dict[str, list[str]] = {}
    for variant, engine in runnable_variants(bundle, backend, exclude):
        by_engine.setdefault(engine, []).append(variant)
    if not by_engine:
        return "no other variant of this bundle runs on the engines installed here"
    return "variants that run here: " + "; ".join(f"{', '.join(v)} ({e})" for e, v in by_engine.items())
