"""Golden samples made from Keras' outputs for copies of the runtime test bundles (export writes its own;
these let a test set the outputs, e.g. move them past the tolerance).

The workstation's outputs are Keras' own (each bundle's expected.npz): an fp32 artifact gives them
within `golden.RELATIVE_TOLERANCE["fp32"]`, so they are honest golden outputs for fp32 variants. For
any other variant they are a stand-in, used only where that variant cannot run at all.
Used by tests/runtime/test_verify.py and tools/device/verify_check.py.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np

from edgeport.runtime.golden import golden_file, is_golden, sample_count, tolerance, write_golden
from edgeport.runtime.manifest import FileEntry, read_manifest, sha256_file, write_manifest

Golden = tuple[dict[str, np.ndarray], dict[str, np.ndarray], float]


def keras_golden(bundle: Path, key: str) -> Golden:
    """(inputs, outputs, atol) for artifact `key` of `bundle` from Keras' outputs in expected.npz."""
    artifact = read_manifest(bundle).artifact(key)
    with np.load(bundle / "expected.npz") as data:
        x, y = data["x"], data["y"]
    n = sample_count(x[0].nbytes, len(x))
    outputs = {artifact.outputs[0].name: y[:n].astype(np.float32)}
    return {artifact.inputs[0].name: x[:n]}, outputs, tolerance(artifact.variant, outputs)


def list_golden(bundle: Path, goldens: dict[str, Golden]) -> None:
    """Write `golden/KEY.npz` for each key and list it in the manifest's files (replacing an old entry)."""
    for key, (inputs, outputs, atol) in goldens.items():
        write_golden(bundle, key, inputs, outputs, atol)
    manifest = read_manifest(bundle)
    written = {golden_file(key) for key in goldens}
    files = [f for f in manifest.files if f.path not in written]
    files += [FileEntry(p, (bundle / p).stat().st_size, sha256_file(bundle / p)) for p in sorted(written)]
    write_manifest(bundle, replace(manifest, files=files))


def strip_golden(bundle: Path) -> None:
    """Remove golden samples from a bundle and its manifest: a bundle exported before them."""
    manifest = read_manifest(bundle)
    write_manifest(bundle, replace(manifest, files=[f for f in manifest.files if not is_golden(f.path)]))
    shutil.rmtree(bundle / "golden", ignore_errors=True)


def drop_variants(bundle: Path, keep: list[str]) -> None:
    """Keep only the artifacts `keep` (their files too)."""
    manifest = read_manifest(bundle)
    for artifact in manifest.artifacts:
        if artifact.key not in keep:
            (bundle / artifact.file).unlink()
    kept = [a for a in manifest.artifacts if a.key in keep]
    recommended = manifest.recommended if manifest.recommended in keep else None
    write_manifest(bundle, replace(manifest, artifacts=kept, recommended=recommended,
                                   recommended_reason=manifest.recommended_reason if recommended else None))


def flip_byte(path: Path, offset: int = -1) -> None:
    """Change one byte of a file in place."""
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))
