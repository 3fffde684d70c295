"""Inference engines behind one small protocol, and the order in which they are tried.

Every backend module has `load(model_bytes, threads, ...)` returning a `Backend`, which has
`inputs()`, `outputs()` and `run(feeds)`. The rest of `runtime/` never asks which one it has.
Engines are imported only when a model is loaded, never by `from edgeport import runtime`.

`.tflite`: LiteRT (`ai_edge_litert`), else `tflite_runtime`, else `tensorflow.lite` (a workstation
fallback, imported only when the other two are absent). `.onnx`: onnxruntime on the CPU.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from edgeport.runtime.errors import EngineMissingError, UsageError
from edgeport.runtime.manifest import TensorSpec


class Backend(Protocol):
    """What `runtime.api` needs from an engine. Each backend module also has a function
    `load(model_bytes, threads, *, engine, verified, source) -> Backend`; `verified` says the
    bytes matched a manifest's sha256, `source` names the model in messages."""

    name: str  # the engine key, e.g. "litert"
    version: str
    threads: int
    rounding: str  # how the engine itself quantises: a `runtime.quant.ROUNDINGS` name
    kernels: str  # "optimized", or "reference" where the optimised ones are known to crash on the model

    def inputs(self) -> list[TensorSpec]:
        """Inputs in feed order; `None` marks a dimension the engine can resize."""

    def outputs(self) -> list[TensorSpec]:
        """Outputs in the order `run` returns them."""

    def run(self, feeds: list[np.ndarray]) -> list[np.ndarray]:
        """One invocation on arrays already in each input's dtype; returns fresh arrays. Not thread-safe."""


@dataclass(frozen=True)
class Engine:
    name: str  # the `backend=` value
    format: str  # "tflite" or "onnx"
    module: str  # the top-level package that must be importable
    implementation: str  # the runtime.backends module with the Backend class
    install: str  # what to tell the user to install


ENGINES: dict[str, Engine] = {
    e.name: e
    for e in (
        Engine("litert", "tflite", "ai_edge_litert", "edgeport.runtime.backends.litert",
               "pip install 'edgeport[litert]' (ai-edge-litert)"),
        Engine("tflite-runtime", "tflite", "tflite_runtime", "edgeport.runtime.backends.litert",
               "pip install 'edgeport[tflite]' (tflite-runtime 2.14, numpy<2)"),
        Engine("tf-lite", "tflite", "tensorflow", "edgeport.runtime.backends.litert",
               "pip install tensorflow (workstation only)"),
        Engine("onnxruntime", "onnx", "onnxruntime", "edgeport.runtime.backends.onnx",
               "pip install 'edgeport[onnx]' (onnxruntime)"),
    )
}
ALIASES = {"ai_edge_litert": "litert", "ai-edge-litert": "litert", "tflite_runtime": "tflite-runtime",
           "tensorflow": "tf-lite", "tf.lite": "tf-lite", "onnx": "onnxruntime", "ort": "onnxruntime"}


def canonical(backend: str | None) -> str | None:
    """The engine key for a `backend=` value (aliases accepted); `UsageError` for an unknown one."""
    if backend is None:
        return None
    name = ALIASES.get(backend, backend)
    if name not in ENGINES:
        raise UsageError(f"unknown backend {backend!r}; use one of: {', '.join(ENGINES)}")
    return name


def engines_for(fmt: str) -> list[Engine]:
    """The engines that run `fmt`, in the order they are tried."""
    return [e for e in ENGINES.values() if e.format == fmt]


def installed(engine: Engine) -> bool:
    """Whether the engine's package can be found (without importing it)."""
    try:
        return importlib.util.find_spec(engine.module) is not None
    except (ImportError, ValueError):
        return False


def open_engine(model: bytes, fmt: str, threads: int, backend: str | None, *, verified: bool, source: str,
                external_data: dict[str, bytes] | None = None) -> Backend:
    """Load `model` on the named engine, or on the first installed engine for `fmt`. `external_data`:
    an ONNX model's external data files by the location the model names, as verified bytes."""
    if backend is not None:
        engine = ENGINES[backend]
        if engine.format != fmt:
            raise UsageError(f"backend {backend!r} runs .{engine.format} models, and {source} is a .{fmt} model")
        candidates = [engine]
    else:
        candidates = engines_for(fmt)
    missing: list[str] = []
    for engine in candidates:
        if not installed(engine):
            missing.append(f"{engine.name}: {engine.install}")
            continue
        implementation = importlib.import_module(engine.implementation)
        try:
            extra = {"external_data": external_data} if external_data else {}
            return implementation.load(model, threads, engine=engine.name, verified=verified, source=source, **extra)
        except EngineMissingError as exc:  # found but not importable (e.g. built for another numpy)
            missing.append(f"{engine.name}: {exc}")
    if backend is not None:
        raise EngineMissingError(f"backend {backend!r} cannot run {source}: " + "; ".join(missing).split(": ", 1)[1])
    raise EngineMissingError(f"no engine for .{fmt} models is installed, so {source} cannot run; install one — "
                             + "; ".join(missing))


def tensor_specs(model: bytes, fmt: str, source: str = "model",
                 external_data: dict[str, bytes] | None = None) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """Inputs and outputs of a model as the first installed engine for `fmt` reads them.

    The one source of a manifest's tensor specs: export writes what this returns, and `runtime.load`
    compares the manifest with what the engine it opened reports.
    """
    engine = open_engine(model, fmt, 1, None, verified=False, source=source, external_data=external_data)
    return engine.inputs(), engine.outputs()
