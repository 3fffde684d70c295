"""Golden samples: a few inputs, and per artifact the outputs the workstation's engine gave for them.

`edgeport-run verify` replays them with the engine installed on the device and compares. The files
are listed in the manifest's `files` with size and sha256 like every other file; `runtime.load` checks
them as it checks every listed file, and only `verify` uses them.

Each artifact has its own file, `golden/KEY.npz` (e.g. `golden/tflite-int8.npz`), because input names
differ between formats: one array per model input, key `input/NAME`, exactly as fed to `Model.run`;
one per output, key `output/NAME` (float32, dequantised, as `Model.run` returns them); and `atol`,
the largest absolute difference that still counts as the same answer for this variant.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeport.runtime.errors import ModelFileError
from edgeport.runtime.atomic_files import atomic_write_bytes
from edgeport.runtime.variants import VARIANT_FACTS

GOLDEN_DIR = "golden"
MAX_SAMPLES, MIN_SAMPLES = 4, 2  # items per golden set: enough to catch a different engine...
INPUT_BUDGET = 1 << 20  # ...and about 1 MB of inputs per artifact where items are large (photos)
INPUT_PREFIX, OUTPUT_PREFIX, ATOL_KEY = "input/", "output/", "atol"

# How far an engine on another machine may stray from the workstation's on the same file, relative to
# max(1, largest |output|), by variant name (`runtime.variants`); a name no export writes (an import's) gets
# the integer variants' tolerance.
RELATIVE_TOLERANCE = {row.name: row.golden_tolerance for row in VARIANT_FACTS}
OTHER_TOLERANCE = 2e-2


def is_golden(relative: str) -> bool:
    """Whether a bundle path is a golden file (read by `verify`, not by `runtime.load`)."""
    return relative.replace("\\", "/").startswith(GOLDEN_DIR + "/")


def golden_file(key: str) -> str:
    """The golden samples of artifact `key`, relative to the bundle."""
    return f"{GOLDEN_DIR}/{key}.npz"


def sample_count(item_bytes: int, available: int) -> int:
    """How many items a golden set holds: up to 4, at least 2, about 1 MB of inputs."""
    fitting = INPUT_BUDGET // max(1, item_bytes)
    return max(0, min(available, MAX_SAMPLES, max(MIN_SAMPLES, fitting)))


def tolerance(variant: str, outputs: dict[str, np.ndarray]) -> float:
    """The `atol` a variant's golden outputs are checked with (see `RELATIVE_TOLERANCE`)."""
    largest = max((float(np.max(np.abs(y))) for y in outputs.values() if np.size(y)), default=0.0)
    return RELATIVE_TOLERANCE.get(variant, OTHER_TOLERANCE) * max(1.0, largest)


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def write_golden(bundle_dir: str | Path, key: str, inputs: dict[str, np.ndarray], outputs: dict[str, np.ndarray],
                 atol: float) -> Path:
    """Write `golden/KEY.npz` atomically; return its path."""
    arrays = {INPUT_PREFIX + name: np.asarray(x) for name, x in inputs.items()}
    arrays.update({OUTPUT_PREFIX + name: np.asarray(y, dtype=np.float32) for name, y in outputs.items()})
    arrays[ATOL_KEY] = np.asarray(float(atol), dtype=np.float64)
    return atomic_write_bytes(Path(bundle_dir) / golden_file(key), _npz_bytes(arrays))


@dataclass(frozen=True)
class Golden:
    inputs: dict[str, np.ndarray]
    outputs: dict[str, np.ndarray]
    atol: float


def _arrays(data: bytes, where: str) -> dict[str, np.ndarray]:
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        raise ModelFileError(f"{where}: not a readable golden file ({type(exc).__name__}: {exc}); "
                             "re-export the bundle") from None


def read_golden(data: bytes, where: str) -> Golden:
    """Inputs, outputs and tolerance from the (already verified) bytes of `golden/KEY.npz`."""
    arrays = _arrays(data, where)
    atol = arrays.pop(ATOL_KEY, None)
    inputs = {k[len(INPUT_PREFIX):]: v for k, v in arrays.items() if k.startswith(INPUT_PREFIX)}
    outputs = {k[len(OUTPUT_PREFIX):]: v for k, v in arrays.items() if k.startswith(OUTPUT_PREFIX)}
    if (atol is None or atol.shape != () or atol.dtype.kind != "f" or not np.isfinite(atol) or float(atol) < 0
            or not inputs or not outputs or len(inputs) + len(outputs) != len(arrays)):
        raise ModelFileError(f"{where}: expected arrays {INPUT_PREFIX}NAME, {OUTPUT_PREFIX}NAME and a non-negative "
                             f"scalar {ATOL_KEY}; re-export the bundle")
    return Golden(inputs, outputs, float(atol))
