"""The baseline the runtime's overhead is measured against: the inference engine called directly,
as a user without edgeport would call it, on a second copy of the same verified model bytes.

TFLite: `Interpreter(model_content=..., num_threads=...)`, then `set_tensor` / `invoke` / `get_tensor`.
ONNX: `InferenceSession(...).run(None, feeds)`. Inputs are handed over already in the engine's
dtype (quantised before the clock starts), so every check, conversion and dequantisation the
runtime does counts as its overhead.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from edgeport.runtime.api import Model


class DirectEngine:
    """One engine instance outside `runtime.Model`; `call(feeds)` runs a batch of engine-ready arrays."""

    def __init__(self, model_bytes: bytes, fmt: str, engine: str, threads: int):
        self.format, self.engine, self.threads = fmt, engine, threads
        if fmt == "tflite":
            from edgeport.runtime.backends.litert import import_interpreter

            interpreter_class, _ = import_interpreter(engine)
            self._it = interpreter_class(model_content=model_bytes, num_threads=threads)
            self._it.allocate_tensors()
            self._in = [d["index"] for d in self._it.get_input_details()]
            self._out = [d["index"] for d in self._it.get_output_details()]
            self._shapes = [tuple(d["shape"]) for d in self._it.get_input_details()]
        else:
            from edgeport.runtime.backends.onnx import new_session

            self._session = new_session(model_bytes, threads)
            self._names = [node.name for node in self._session.get_inputs()]

    def prepare(self, feeds: list[np.ndarray]) -> None:
        """Size the engine's inputs for this batch (TFLite), outside the timed calls."""
        if self.format != "tflite":
            return
        shapes = [tuple(f.shape) for f in feeds]
        if shapes != self._shapes:
            for index, shape in zip(self._in, shapes):
                self._it.resize_tensor_input(index, list(shape), strict=True)
            self._it.allocate_tensors()
            self._shapes = shapes

    def caller(self, feeds: list[np.ndarray]) -> Callable[[], Any]:
        """A no-argument function running `feeds` once: what the benchmark times."""
        self.prepare(feeds)
        if self.format == "tflite":
            it, inputs, outputs = self._it, list(zip(self._in, feeds)), self._out
            set_tensor, invoke, get_tensor = it.set_tensor, it.invoke, it.get_tensor

            def run_tflite() -> list[np.ndarray]:
                for index, x in inputs:
                    set_tensor(index, x)
                invoke()
                return [get_tensor(index) for index in outputs]

            return run_tflite
        run, named = self._session.run, dict(zip(self._names, feeds))
        return lambda: run(None, named)


def engine_feeds(model: Model, batch: np.ndarray) -> list[np.ndarray]:
    """A single-input batch as the engine takes it (quantised with the model's own parameters)."""
    return [np.ascontiguousarray(model.engine_input(batch))]


def fixed_batch(model: Model) -> int | None:
    """The batch size the model's file is fixed at, or None when the batch dimension is free."""
    shape = model.input_specs[0].shape
    return shape[0] if shape and shape[0] is not None else None
