"""ONNX Runtime Mobile: each `.onnx` variant converted to the ORT format with onnxruntime's own converter
(`onnxruntime.tools.convert_onnx_models_to_ort`, "Fixed" optimisation for arm, a phone's CPU), and one
`required_operators.config` that a reduced onnxruntime build of every `.ort` in the bundle needs
(`build.py --include_ops_by_config`). Each `.ort` is then run through the runtime on its `.onnx` variant's
golden inputs and compared with the outputs the `.onnx` file gave."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from edgeport.export.converters import quiet
from edgeport.runtime import golden
from edgeport.runtime.api import load
from edgeport.runtime.errors import EdgeportError
from edgeport.runtime.atomic_files import atomic_output
from edgeport.runtime.manifest import Artifact, FileEntry, sha256_file

CONFIG_NAME = "required_operators.config"
TARGET_PLATFORM = "arm"  # phones: no x86-only layouts baked in, QDQ kept as int8 (ORT's arm setting)


@dataclass(frozen=True)
class OrtCheck:
    """One `.ort` file against its `.onnx` variant on the golden samples."""

    key: str
    file: str
    size: int
    sha256: str
    max_abs_diff: float | None  # None: the `.onnx` has no golden samples to compare with
    atol: float | None
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and self.max_abs_diff is not None and self.max_abs_diff <= (self.atol or 0.0)

    def to_dict(self) -> dict[str, object]:
        facts = {"file": self.file, "size": self.size, "sha256": self.sha256, "max_abs_diff": self.max_abs_diff,
                 "atol": self.atol, "passed": self.passed}
        return facts | ({"error": self.error} if self.error else {})

    def describe(self) -> str:
        if self.error:
            return f"{self.key}: {self.file} failed: {self.error}"
        if self.max_abs_diff is None:
            return f"{self.key}: {self.file} written; no golden samples to compare it with"
        verdict = "equals" if self.passed else "DIFFERS from"
        return (f"{self.key}: {self.file} {verdict} the .onnx outputs on the golden samples "
                f"(max |Δ| {self.max_abs_diff:.3g}, allowed {self.atol:.3g})")


def ort_name(onnx_file: str) -> str:
    """`model.fp32.onnx` → `model.fp32.ort`."""
    return str(Path(onnx_file).with_suffix(".ort"))


def convert_to_ort(bundle: Path, onnx_files: Sequence[str]) -> list[str]:
    """Write `model.<variant>.ort` beside each of `onnx_files` (bundle-relative) and `required_operators.config`
    for all of them, each atomically; return the bundle-relative paths written. Raises what the converter raises."""
    from onnxruntime.tools.convert_onnx_models_to_ort import OptimizationStyle, convert_onnx_models_to_ort

    with tempfile.TemporaryDirectory(prefix="edgeport-ort-") as work:
        source, out = Path(work) / "onnx", Path(work) / "ort"
        source.mkdir()
        for name in onnx_files:
            shutil.copyfile(bundle / name, source / Path(name).name)
        with quiet():  # the converter prints every step
            convert_onnx_models_to_ort(source, output_dir=out, optimization_styles=[OptimizationStyle.Fixed],
                                       target_platform=TARGET_PLATFORM)
        written = []
        for name in onnx_files:
            produced = out / Path(ort_name(name)).name
            if not produced.is_file():
                raise RuntimeError(f"onnxruntime's converter wrote no {produced.name}")
            with atomic_output(bundle / ort_name(name)) as tmp:
                shutil.copyfile(produced, tmp)
            written.append(ort_name(name))
        with atomic_output(bundle / CONFIG_NAME) as tmp:
            tmp.write_text(_portable_config((out / CONFIG_NAME).read_text(encoding="utf-8")), encoding="utf-8")
        written.append(CONFIG_NAME)
    return written


def _portable_config(text: str) -> str:
    """The converter's config with its comment's temporary paths cut to file names (a bundle is the same
    wherever it was exported)."""
    lines = [f"# - {Path(line[4:]).name}" if line.startswith("# - ") else line for line in text.splitlines()]
    return "\n".join(lines) + "\n"


def check_ort(bundle: Path, artifact: Artifact) -> OrtCheck:
    """Run `artifact`'s `.ort` through the runtime on the `.onnx` variant's golden inputs; compare."""
    file = ort_name(artifact.file)
    facts = (artifact.key, file, (bundle / file).stat().st_size, sha256_file(bundle / file))
    golden_path = bundle / golden.golden_file(artifact.key)
    if not golden_path.is_file():
        return OrtCheck(*facts, None, None)
    expected = golden.read_golden(golden_path.read_bytes(), golden_path.name)
    try:
        got = load(bundle / file, threads=1).run(expected.inputs)
    except EdgeportError as exc:  # the runtime refusing the file is this check's finding
        return OrtCheck(*facts, None, expected.atol, str(exc))
    diff = max(float(np.max(np.abs(got[name] - y))) if y.size else 0.0 for name, y in expected.outputs.items())
    return OrtCheck(*facts, diff, expected.atol)


def ort_files(bundle: Path, artifacts: Sequence[Artifact]) -> tuple[list[FileEntry], list[OrtCheck], list[str]]:
    """Convert every ONNX artifact to `.ort` and check each. Returns the manifest's `files` entry for the
    config (the `.ort` files are listed, hashed, in their `.onnx` artifact's `parity["ort"]`: the runtime
    reads every `files` entry on each load, and a device that runs `.onnx` never needs them), the checks,
    and the report's notes (a converter failure is a note, not a failed export)."""
    onnx = [a for a in artifacts if a.format == "onnx"]
    wanted = {ort_name(a.file) for a in onnx}
    for stale in bundle.glob("model.*.ort"):  # an earlier export's, of a variant this bundle no longer lists
        if stale.name not in wanted:
            stale.unlink()
    if not onnx:
        (bundle / CONFIG_NAME).unlink(missing_ok=True)
        return [], [], []
    try:
        convert_to_ort(bundle, [a.file for a in onnx])
    except Exception as exc:  # noqa: BLE001 — ORT Mobile's files are an extra: their failure is reported
        return [], [], [f"ONNX Runtime Mobile: no .ort files ({type(exc).__name__}: {str(exc).strip()[:300]})"]
    entries = [FileEntry(CONFIG_NAME, (bundle / CONFIG_NAME).stat().st_size, sha256_file(bundle / CONFIG_NAME))]
    checks = [check_ort(bundle, a) for a in onnx]
    notes = [check.describe() for check in checks] + [f"{CONFIG_NAME}: the operators a reduced onnxruntime build of these "
                                                       ".ort files needs (build.py --include_ops_by_config)."]
    return entries, checks, notes
