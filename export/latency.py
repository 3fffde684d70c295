"""Raw-engine latency of a bundle's variants, side by side: what export recommends by.

Each file runs in its engine as a user without edgeport would call it (`runtime.measure.direct_engine`), batch 1,
one thread, on the same sample already in the engine's dtype; the variants are timed in alternating
rounds (`runtime.measure.timing.measure`), so a busy machine slows them alike and their order holds.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from edgeport.export.validate import load_artifact
from edgeport.runtime.measure.direct_engine import DirectEngine, engine_feeds
from edgeport.runtime.measure.timing import cpu_model, measure

REPEATS, WARMUP, MIN_TIME_S = 50, 5, 1.5


def engine_latencies(files: Mapping[str, Path], samples: Mapping[str, np.ndarray], repeats: int = REPEATS,
                     min_time_s: float = MIN_TIME_S) -> dict[str, float]:
    """Median milliseconds of one engine call on its sample (a batch of one, `samples[key]`) per key of `files`
    (key → model file).

    A file its engine cannot time on this input is left out.
    """
    calls: dict[str, Any] = {}
    for key, path in files.items():
        try:
            model = load_artifact(path, threads=1)
            engine = DirectEngine(Path(path).read_bytes(), "onnx" if Path(path).suffix == ".onnx" else "tflite",
                                  model.engine.name, threads=1)
            calls[key] = engine.caller(engine_feeds(model, samples[key][:1]))
        except Exception:  # noqa: BLE001 — validation has already reported what is wrong with this file
            continue
    if not calls:
        return {}
    stats = measure(calls, repeats, WARMUP, min_time_s)
    return {key: round(s["p50"], 4) for key, s in stats.items()}


def measured_here() -> str:
    """How and where `engine_latencies` measured, for the recommendation's reason."""
    return f"raw engine, interleaved, measured by edgeport-export on {cpu_model()}, {datetime.date.today().isoformat()}"
