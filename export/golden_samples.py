"""Golden samples for every artifact of a bundle: the first parity inputs, run through the runtime on this
machine's engine exactly as `Model.run` runs them, and the outputs it gave (`runtime.golden` is the file
format; `edgeport-run verify` replays them on the device)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from edgeport.export.engine_names import engine_names
from edgeport.export.model_io import ModelIO
from edgeport.export.converters import quiet
from edgeport.runtime import backends, golden
from edgeport.runtime.api import Model
from edgeport.runtime.manifest import Artifact, FileEntry, read_verified_artifact, sha256_file


def golden_set(bundle: Path, artifact: Artifact, io: ModelIO, xs: Sequence[np.ndarray]) -> tuple[dict, dict, float]:
    """(inputs by the file's input names, outputs by its output names, atol) for `artifact`; `xs` as the file
    takes them."""
    names = engine_names(bundle / artifact.file, artifact.format, io)
    item_bytes = sum(int(np.asarray(x[:1]).nbytes) for x in xs)
    count = golden.sample_count(item_bytes, len(xs[0]))
    inputs = {name: np.ascontiguousarray(x[:count]) for name, x in zip(names.inputs, xs)}
    with quiet():  # LiteRT announces its delegate on stderr
        engine = backends.open_engine(read_verified_artifact(bundle, artifact), artifact.format, 1, None,
                                      verified=True, source=f"{artifact.key} ({artifact.file})")
    outputs = Model(engine, path=bundle / artifact.file).run(inputs)
    return inputs, outputs, golden.tolerance(artifact.variant, outputs)


def write_golden_files(bundle: Path, artifacts: Sequence[Artifact], io: ModelIO, xs: Sequence[np.ndarray],
                       fed: Callable[[Artifact, np.ndarray], np.ndarray]) -> tuple[list[FileEntry], list[str]]:
    """Write `golden/KEY.npz` for each artifact this machine's engine runs, on `xs` as `fed(artifact, x)` gives
    them to that file; the manifest's entries for them, and a note for each artifact that got none (and why)."""
    entries, notes = [], []
    for artifact in artifacts:
        try:
            inputs, outputs, atol = golden_set(bundle, artifact, io, [fed(artifact, x) for x in xs])
        except Exception as exc:  # noqa: BLE001 — an artifact this engine cannot run gets no golden file, said so
            notes.append(f"{artifact.key}: no golden samples ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})")
            continue
        path = golden.write_golden(bundle, artifact.key, inputs, outputs, atol)
        entries.append(FileEntry(golden.golden_file(artifact.key), path.stat().st_size, sha256_file(path)))
    return entries, notes
