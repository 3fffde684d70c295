"""The Keras model's inputs and outputs, its answers, and what each output holds.

An exported file's own tensor names are matched to these by `export.engine_names`.

Output kinds (`output_kind`): an output holds *probabilities* when every value Keras gives on the parity
set lies in [0, 1] and it is a single column (sigmoid) or every row sums to 1 within 1e-3 (softmax).
Anything else (regression values, embeddings, logits, several independent sigmoids) holds *values*:
class agreement is undefined there, and it is judged by max |Δ| relative to its range on the parity set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

PROBABILITIES, VALUES = "probabilities", "values"
ROW_SUM_TOLERANCE = 1e-3


@dataclass(frozen=True)
class ModelIO:
    """The Keras model's inputs (name, shape without batch, dtype) and output names, in the model's order."""

    inputs: tuple[str, ...]
    input_shapes: tuple[tuple[int | None, ...], ...]
    input_dtypes: tuple[str, ...]
    outputs: tuple[str, ...]


def model_io(model: Any) -> ModelIO:
    """The inputs and outputs of a Keras model (output names made unique, `output_N` where Keras has none)."""
    names = [bare_name(str(getattr(t, "name", "") or f"input_{i}")) for i, t in enumerate(model.inputs)]
    shapes = [tuple(None if d is None else int(d) for d in tuple(t.shape)[1:]) for t in model.inputs]
    dtypes = [str(getattr(t.dtype, "name", t.dtype)) for t in model.inputs]
    keras_names = list(getattr(model, "output_names", None) or [])
    outputs: list[str] = []
    for i in range(len(model.outputs)):
        name = str(keras_names[i]) if i < len(keras_names) and keras_names[i] else f"output_{i}"
        outputs.append(name if name not in outputs else f"{name}_{i}")
    return ModelIO(tuple(names), tuple(shapes), tuple(dtypes), tuple(outputs))


def keras_answers(model: Any, xs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Keras' answers to the inputs `xs` (in the model's order), a list in the model's output order."""
    ys = model.predict(xs[0] if len(xs) == 1 else list(xs), batch_size=256, verbose=0)
    ys = [ys[name] for name in model_io(model).outputs] if isinstance(ys, dict) else ys
    return [np.asarray(y) for y in ys] if isinstance(ys, (list, tuple)) else [np.asarray(ys)]


def output_kind(reference: np.ndarray) -> str:
    """`probabilities` or `values` for Keras' answers of one output (the module doc states the rule)."""
    y = np.asarray(reference, dtype=np.float64).reshape(len(reference), -1)
    if not y.size or not np.isfinite(y).all() or y.min() < 0.0 or y.max() > 1.0:
        return VALUES
    if y.shape[1] == 1 or np.allclose(y.sum(axis=1), 1.0, atol=ROW_SUM_TOLERANCE):
        return PROBABILITIES
    return VALUES


def bare_name(name: str) -> str:
    """`serving_default_tokens:0` → `tokens`."""
    return re.sub(r":\d+$", "", name).removeprefix("serving_default_")
