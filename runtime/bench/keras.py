"""The Keras baseline of the bench, measured in a fresh process (workstation only).

Importing this module imports no TensorFlow and no `edgeport.export`: `keras_baseline` starts
`python -m edgeport.export.keras_baseline` in a new interpreter, which imports Keras,
loads `keras/model.keras`, predicts once (its cold start and peak
resident memory), then times `model(x, training=False)` and `model.predict(x)` on the very batches the
runtime was timed on. Skipped, with the reason, where TensorFlow or the Keras model is missing.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Mapping

KERAS_MODEL = "keras/model.keras"
CHILD = "edgeport.export.keras_baseline"  # the measuring process: a module of the workstation package


def unavailable(bundle: str | os.PathLike, source: Mapping[str, Any] | None = None) -> str | None:
    """Why there can be no Keras baseline here, or None when there can."""
    if any(importlib.util.find_spec(name) is None for name in ("tensorflow", "keras")) or not _export_installed():
        return "TensorFlow/Keras are not installed (device environment)"
    path = keras_model_path(bundle, source)
    if not path.is_file():
        return f"no Keras model at {path} (bundles copied to a device leave it behind)"
    return None


def keras_model_path(bundle: str | os.PathLike, source: Mapping[str, Any] | None = None) -> Path:
    return Path(bundle) / str((source or {}).get("file") or KERAS_MODEL)


def keras_baseline(bundle: str | os.PathLike, batches: Mapping[int, Any], threads: int, repeats: int,
                   warmup: int, source: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Cold start, peak RSS and warm latencies of the bundle's Keras model on `batches` (size → array)."""
    import numpy as np

    from edgeport.runtime.measure.timing import run_child

    reason = unavailable(bundle, source)
    if reason:
        return {"available": False, "reason": reason}
    with tempfile.TemporaryDirectory(prefix="edgeport-bench-") as work:
        inputs = Path(work) / "inputs.npz"
        np.savez(inputs, **{f"b{size}": x for size, x in batches.items()})
        try:
            result = run_child([sys.executable, "-m", CHILD, str(keras_model_path(bundle, source)),
                                str(inputs), str(threads), str(repeats), str(warmup)], timeout=900)
        except Exception as exc:  # noqa: BLE001 — a failed baseline is reported, not fatal
            return {"available": False, "reason": f"the Keras process failed: {exc}"}
    return {"available": True, "threads": threads, **result}


def _export_installed() -> bool:
    try:
        return importlib.util.find_spec(CHILD) is not None
    except ModuleNotFoundError:
        return False
