"""What one export is given (the model and its task, the options, the check data) and what it gives back
(each variant's outcome, the result): the records `export.bundle`'s steps and `export.assemble` pass along."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from edgeport.export.calibrate import DEFAULT_SAMPLES
from edgeport.export.checks import CheckData, ParityResult
from edgeport.export.file_inputs import FileInputs
from edgeport.export.model_io import ModelIO
from edgeport.export.report import Row
from edgeport.export.variants import Variant, select_variants
from edgeport.runtime.manifest import Artifact, Manifest


@dataclass
class VariantOutcome:
    """One variant of one export: its manifest entry and parity, or the error that stopped its conversion."""

    variant: Variant
    artifact: Artifact | None = None
    parity: ParityResult | None = None
    error: str | None = None  # the whole message, every line (report.md shows it)
    traceback: str | None = None  # where it was raised (`edgeport-export --verbose` prints it)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)  # what its phone targets measured, for report.md

    @property
    def passed(self) -> bool:
        return self.artifact is not None and self.artifact.status == "passed"

    def record(self) -> None:
        """Write the parity's figures and verdict into the manifest entry."""
        if self.artifact is not None and self.parity is not None:
            status = "passed" if self.parity.passed else "failed"
            self.artifact = replace(self.artifact, status=status, parity=self.parity.to_dict())

    def add_to_parity(self, name: str, doc: dict[str, Any]) -> None:
        """Record what a phone target measured as `parity[name]`."""
        if self.parity is not None:
            self.parity.extras[name] = doc
            self.record()
        elif self.artifact is not None:  # the runtime could not run it: its parity is the failure alone
            self.artifact = replace(self.artifact, parity={**self.artifact.parity, name: doc})


ProgressCallback = Callable[[int, int, VariantOutcome], None]


@dataclass(frozen=True)
class ExportOptions:
    """What an export makes and how it runs: the formats and variants (keys such as `tflite-int8` or bare names
    such as `fp16`; None: all), the calibration samples drawn, whether latency is measured, and what is told
    after each variant (`on_progress(index, total, outcome)`)."""

    formats: Sequence[str] | None = None
    variants: Sequence[str] | None = None
    calibration_samples: int = DEFAULT_SAMPLES
    measure_latency: bool = True
    on_progress: ProgressCallback | None = None

    def selected(self) -> list[Variant]:
        """The variants' rows, in table order; `ValueError` naming what is unknown, or when none is left."""
        return select_variants(list(self.formats) if self.formats else None,
                               list(self.variants) if self.variants else None)


@dataclass(frozen=True, eq=False)
class ExportSource:
    """The Keras model being exported and what the bundle says of it."""

    model: Any
    task: Mapping[str, Any]  # the manifest's task, kind, labels, preprocessing (and the calibration seed)
    source_model: Mapping[str, Any]  # the manifest's source_model (its sha256 keeps an earlier export's artifacts)
    min_size: int | None  # bytes of float32 weights a float32 file must hold (None: not checked)


@dataclass(frozen=True, eq=False)
class ExportRun:
    """What every step of one export reads: the staging directory it writes, the source, the model's inputs
    and outputs, the check data, each file's check inputs, the options and a text bundle's vocabulary."""

    bundle: Path
    source: ExportSource
    io: ModelIO
    check: CheckData
    fed: FileInputs
    options: ExportOptions
    vocabulary: Mapping[str, int] | None = None


@dataclass
class ExportResult:
    bundle_dir: Path
    manifest: Manifest
    outcomes: list[VariantOutcome] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    baseline: dict[str, Any] | None = None  # task.json's: always answering the largest class, and the verdict

    @property
    def learned_nothing(self) -> str | None:
        """The line that says the model is not better than the baseline (None when it is, or unknown)."""
        return (self.baseline or {}).get("not_learned")

    @property
    def failed(self) -> list[str]:
        """Keys of the variants of this run that failed their export or their check."""
        return [o.variant.key for o in self.outcomes if not o.passed]
