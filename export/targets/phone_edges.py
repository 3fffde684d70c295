"""The full-integer `.tflite` as phone libraries take it: camera pixels in, uint8 out.

MediaPipe Tasks (and the TFLite Task Library before it) take uint8 or float32 tensors at a model's edges,
never int8, as Model Maker's int8 exports have them. So the converter's int8 file gets:

- for an image bundle, a uint8 input that takes RGB pixels as they are, looked up in the runtime's own
  pixel table (`runtime.pixel_table`, with the rounding of the engine that checks the file here): the
  normalisation is inside the graph and `pixels → model` gives exactly the integers normalising and
  quantising would, with no float tensor;
- a uint8 output, the int8 one shifted by 128 with its scale (`runtime.tflite_edges.uint8_edges`), which
  MediaPipe dequantises with the tensor's own parameters.

The runtime feeds such a model pixels (`Model.takes_pixels`); LiteRT and tflite-runtime run it as they ran
the int8 file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from edgeport.runtime.atomic_files import atomic_output
from edgeport.runtime import load
from edgeport.runtime.pixel_table import pixel_table
from edgeport.runtime.preprocess import ImagePreprocessor
from edgeport.runtime.quant import is_quantized
from edgeport.runtime.tensors import to_engine_dtype
from edgeport.runtime.tflite_edges import pixel_input, uint8_edges


def camera_table(path: Path, preprocessing: Mapping[str, Any]) -> np.ndarray | None:
    """The (3, 256) int8 table the runtime looks pixels up in for the file at `path`, or None where its
    normalisation has no per-channel table (it reorders channels, as imagenet-caffe does)."""
    model = load(path, threads=1)
    (spec,) = model.input_specs
    if spec.dtype != "int8" or not is_quantized(spec):
        return None
    preprocessor = ImagePreprocessor(dict(preprocessing), spec.shape)
    rounding = model.engine.rounding
    table = pixel_table(preprocessor.normalized, lambda x: to_engine_dtype(x, spec, None, rounding))
    if table is None or table.sources != (0, 1, 2):
        return None
    return table.table.astype(np.int8)


def phone_edges(path: Path, task: Mapping[str, Any]) -> dict[str, str]:
    """Rewrite the full-integer file at `path` in place for phone libraries; its converter facts."""
    data = path.read_bytes()
    facts = {}
    if task.get("kind") == "image":
        table = camera_table(path, task["preprocessing"])
        if table is None:
            facts["input"] = "int8 (its normalisation has no per-channel pixel table)"
        else:
            data = pixel_input(data, table)
            facts["input"] = "uint8 RGB pixels (normalisation inside the model, one lookup per channel value)"
    data, changed = uint8_edges(data, inputs=False)
    if changed:
        facts["output"] = "uint8 (the int8 output + 128, same scale)"
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)
    return facts
