"""Which tensor of an exported file is which input and output of the Keras model, and what each output holds.

Engines name tensors their own way: a TFLite file from `TFLiteConverter.from_keras_model` calls its inputs
`serving_default_NAME:0` and may list its outputs in another order than Keras (its signature maps
`output_0`, `output_1`, … to them); an ONNX file from `export.onnx` keeps the Keras input names and, for
several outputs, names each output after its Keras output. `engine_names` reads these maps from the file
itself, so inputs and outputs are matched by name, never by position.

Output kinds (`output_kind`): an output holds *probabilities* when every value Keras gives on the parity
set lies in [0, 1] and it is a single column (sigmoid) or every row sums to 1 within 1e-3 (softmax).
Anything else (regression values, embeddings, logits, several independent sigmoids) holds *values*:
class agreement is undefined there, and it is judged by max |Δ| relative to its range on the parity set.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

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


@dataclass(frozen=True)
class EngineNames:
    """An exported file's tensor names in the Keras model's order: `inputs[i]` is Keras input i."""

    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


def model_io(model: Any) -> ModelIO:
    """The inputs and outputs of a Keras model (output names made unique, `output_N` where Keras has none)."""
    names = [_bare(str(getattr(t, "name", "") or f"input_{i}")) for i, t in enumerate(model.inputs)]
    shapes = [tuple(None if d is None else int(d) for d in tuple(t.shape)[1:]) for t in model.inputs]
    dtypes = [str(getattr(t.dtype, "name", t.dtype)) for t in model.inputs]
    keras_names = list(getattr(model, "output_names", None) or [])
    outputs: list[str] = []
    for i in range(len(model.outputs)):
        name = str(keras_names[i]) if i < len(keras_names) and keras_names[i] else f"output_{i}"
        outputs.append(name if name not in outputs else f"{name}_{i}")
    return ModelIO(tuple(names), tuple(shapes), tuple(dtypes), tuple(outputs))


def output_kind(reference: np.ndarray) -> str:
    """`probabilities` or `values` for Keras' answers of one output (the module doc states the rule)."""
    y = np.asarray(reference, dtype=np.float64).reshape(len(reference), -1)
    if not y.size or not np.isfinite(y).all() or y.min() < 0.0 or y.max() > 1.0:
        return VALUES
    if y.shape[1] == 1 or np.allclose(y.sum(axis=1), 1.0, atol=ROW_SUM_TOLERANCE):
        return PROBABILITIES
    return VALUES


def _bare(name: str) -> str:
    """`serving_default_tokens:0` → `tokens`."""
    return re.sub(r":\d+$", "", name).removeprefix("serving_default_")


def _match(wanted: Sequence[str], found: Mapping[str, str], what: str, path: Path) -> tuple[str, ...]:
    """For each wanted Keras name (in order), the engine tensor whose key names it; by position for `output_N` keys."""
    if len(wanted) == 1 and len(found) == 1:
        return (next(iter(found.values())),)
    bare = {_bare(k).lower(): v for k, v in found.items()}
    chosen = []
    for i, name in enumerate(wanted):
        tensor = bare.get(_bare(name).lower(), bare.get(f"output_{i}" if what == "output" else ""))
        if tensor is None:
            raise ValueError(f"{path.name}: no {what} matches the Keras {what} {name!r} (the file's {what}s: "
                             f"{', '.join(found)}); re-export the model")
        chosen.append(tensor)
    if len(set(chosen)) != len(chosen):
        raise ValueError(f"{path.name}: two Keras {what}s match the same tensor ({', '.join(chosen)}); "
                         f"give the model's {what}s distinct names")
    return tuple(chosen)


def engine_names(path: str | os.PathLike, fmt: str, io: ModelIO) -> EngineNames:
    """The file's input and output tensor names (as the runtime reports them) in the Keras model's order."""
    path = Path(path)
    if fmt == "tflite":
        from edgeport.export.tflite import interpreter

        interp = interpreter(path)
        signatures = interp.get_signature_list()
        if signatures:
            runner = interp.get_signature_runner(next(iter(signatures)))
            inputs = {k: d["name"] for k, d in runner.get_input_details().items()}
            outputs = {k: d["name"] for k, d in runner.get_output_details().items()}
        else:  # no signature: the file's own order
            inputs = {d["name"]: d["name"] for d in interp.get_input_details()}
            outputs = {f"output_{i}": d["name"] for i, d in enumerate(interp.get_output_details())}
    else:
        from edgeport.export.onnx import onnx_tensor_specs

        specs = onnx_tensor_specs(path)
        inputs = {s.name: s.name for s in specs[0]}
        outputs = {s.name: s.name for s in specs[1]}
    return EngineNames(_match(io.inputs, inputs, "input", path), _match(io.outputs, outputs, "output", path))
