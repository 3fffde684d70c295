"""Run an exported artifact through `runtime` (the code the device runs) and check it against the Keras
original with `export.checks`: `validate_artifact` records every figure and failure, `ParityResult.raise_for_failures`
raises the first; `check_bundle_load` loads it again from the written bundle, by its manifest.
"""

from __future__ import annotations

import os
import statistics
import time
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edgeport.export.checks import BundleLoadError, CheckData, Checks, ParityResult
from edgeport.export.engine_names import EngineNames
from edgeport.export.outputs import compare_model_outputs
from edgeport.export.converters import quiet
from edgeport.runtime.errors import EdgeportError

PREDICT_CHUNK = 256


def load_artifact(path: str | os.PathLike, variant: str | None = None, threads: int | None = None) -> Any:
    """`runtime.load`: a model file, or a bundle directory's `variant` (hash-checked against its manifest).

    Its `predict_tensor` quantises int8 inputs and dequantises int8 outputs from the model's own parameters,
    exactly as on the device.
    """
    from edgeport import runtime

    with quiet():  # LiteRT announces its XNNPACK delegate on stderr for every load
        return runtime.load(path, variant=variant, threads=threads)


def predict(loaded: Any, x: np.ndarray) -> np.ndarray:
    """Probabilities for `x`, in chunks, through the loaded model's `predict_tensor`."""
    parts = [np.asarray(loaded.predict_tensor(x[i : i + PREDICT_CHUNK])) for i in range(0, len(x), PREDICT_CHUNK)]
    return np.concatenate(parts, axis=0)


def feeds(names: EngineNames, xs: Sequence[np.ndarray], start: int = 0, stop: int | None = None) -> dict[str, np.ndarray]:
    """Rows `start:stop` of the inputs (in the Keras model's order), keyed by the file's input names."""
    return {name: x[start:stop] for name, x in zip(names.inputs, xs)}


def predict_outputs(loaded: Any, xs: Sequence[np.ndarray], names: EngineNames) -> list[np.ndarray]:
    """Every output, in the Keras model's order, for the inputs `xs` (in the Keras model's order), in chunks."""
    if len(xs) == 1 and len(names.outputs) == 1:
        return [predict(loaded, xs[0])]
    parts: list[list[np.ndarray]] = []
    for start in range(0, len(xs[0]), PREDICT_CHUNK):
        out = loaded.predict_tensor(feeds(names, xs, start, start + PREDICT_CHUNK))
        out = out if isinstance(out, dict) else {names.outputs[0]: out}
        parts.append([np.asarray(out[name]) for name in names.outputs])
    return [np.concatenate(column, axis=0) for column in zip(*parts)]


def median_latency_ms(loaded: Any, sample: Any, runs: int = 30, budget_s: float = 2.0) -> float:
    """Median wall time of single-sample `predict_tensor` calls (after one warm-up call)."""
    loaded.predict_tensor(sample)
    times: list[float] = []
    deadline = time.perf_counter() + budget_s
    while len(times) < runs and (len(times) < 5 or time.perf_counter() < deadline):
        start = time.perf_counter()
        loaded.predict_tensor(sample)
        times.append(time.perf_counter() - start)
    return round(1000.0 * statistics.median(times), 4)


def validate_artifact(path: str | os.PathLike, key: str, data: CheckData, checks: Checks, names: EngineNames) -> ParityResult:
    """Run the model file at `path` through the runtime on `data` (its inputs as this file takes them) and judge
    every output against Keras' answers by `checks` (`export.outputs`); `names` are the file's tensor names in
    the Keras model's order.

    Where `data` has an agreement set, class agreement is judged on it (the artifact run on it too), else on
    the test set; without labels accuracy is not measured.
    """
    loaded = load_artifact(path)
    outputs = predict_outputs(loaded, data.inputs, names)
    wide = predict(loaded, data.x_agreement) if data.x_agreement is not None and data.agreement_reference is not None else None
    result = compare_model_outputs(key, data, outputs, wide, checks, Path(path).stat().st_size)
    result.outputs = outputs
    if checks.measure_latency:
        sample = data.inputs[0][:1] if data.single else feeds(names, data.inputs, 0, 1)
        result.latency_ms = median_latency_ms(load_artifact(path, threads=1), sample)
    return result


def check_bundle_load(bundle_dir: str | os.PathLike, key: str, path: str | os.PathLike, xs: Sequence[np.ndarray],
                      names: EngineNames) -> BundleLoadError | None:
    """Load `key` from the bundle by its manifest (size and sha256 checked, labels and preprocessing read) and
    confirm it answers `xs` (inputs in the Keras model's order) exactly as the checked file at `path` does,
    every output; the error, or None.

    Same batch both ways: dynamically quantised models quantise activations per batch.
    """
    try:
        with warnings.catch_warnings():  # the runtime warns when asked for a variant marked failed
            warnings.simplefilter("ignore")
            outputs = predict_outputs(load_artifact(bundle_dir, variant=key), xs, names)
    except EdgeportError as exc:
        return BundleLoadError(key, f"runtime.load of the written bundle refused it: {exc}")
    expected = predict_outputs(load_artifact(path), xs, names)
    if any(a.shape != b.shape or not np.array_equal(a, b) for a, b in zip(outputs, expected)):
        return BundleLoadError(key, "loaded from the bundle it answers differently from the file that was checked")
    return None
