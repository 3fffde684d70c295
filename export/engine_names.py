"""Which tensor of an exported file is which input and output of the Keras model.

Engines name tensors their own way: a TFLite file from `TFLiteConverter.from_keras_model` calls its inputs
`serving_default_NAME:0` and may list its outputs in another order than Keras (its signature maps
`output_0`, `output_1`, … to them); an ONNX file from `export.onnx` keeps the Keras input names and, for
several outputs, names each output after its Keras output. `engine_names` reads these maps from the file
itself, so inputs and outputs are matched by name, never by position.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from edgeport.export.model_io import ModelIO, bare_name
from edgeport.export.onnx import onnx_tensor_specs
from edgeport.export.tflite import interpreter


@dataclass(frozen=True)
class EngineNames:
    """An exported file's tensor names in the Keras model's order: `inputs[i]` is Keras input i."""

    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


def _match(wanted: Sequence[str], found: Mapping[str, str], what: str, path: Path) -> tuple[str, ...]:
    """For each wanted Keras name (in order), the engine tensor whose key names it; by position for `output_N` keys."""
    if len(wanted) == 1 and len(found) == 1:
        return (next(iter(found.values())),)
    bare = {bare_name(k).lower(): v for k, v in found.items()}
    chosen = []
    for i, name in enumerate(wanted):
        tensor = bare.get(bare_name(name).lower(), bare.get(f"output_{i}" if what == "output" else ""))
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
        specs = onnx_tensor_specs(path)
        inputs = {s.name: s.name for s in specs[0]}
        outputs = {s.name: s.name for s in specs[1]}
    return EngineNames(_match(io.inputs, inputs, "input", path), _match(io.outputs, outputs, "output", path))
