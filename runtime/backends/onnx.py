"""`.onnx` models on onnxruntime, CPU execution provider."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeport.runtime.cpu import onnx_int8_kernel
from edgeport.runtime.errors import (
    EdgeportError, EngineMissingError, EngineUnsupportedError, InferenceError, ModelFileError, ValueRangeError,
)
from edgeport.runtime.manifest import TensorSpec

ONNX_DTYPES = {
    "tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
    "tensor(int8)": "int8", "tensor(uint8)": "uint8", "tensor(int16)": "int16", "tensor(int32)": "int32",
    "tensor(int64)": "int64", "tensor(bool)": "bool",
}
SILENT = 4  # onnxruntime's FATAL-only log level: failures are reported as runtime exceptions instead
# On x86-64 without VNNI, onnxruntime's fast u8×s8 kernels add pairs of products in 16 bits and saturate;
# its precision mode adds them in 32 bits (docs/export.md). Set only where `runtime.cpu` says it is needed.
X64_QUANT_PRECISION = ("session.x64quantprecision", "1")


def new_session(model: bytes, threads: int, external_data: dict[str, bytes] | None = None) -> Any:
    """An onnxruntime `InferenceSession` on the CPU provider as edgeport runs it: `threads` intra-op
    threads, one inter-op thread, sequential execution, x86-64 int8 kernels that do not saturate
    (precision mode where the CPU lacks VNNI: `runtime.cpu`), engine logs silenced. `external_data` maps
    each external data location the model names to that file's (verified) bytes: the engine takes them
    from memory and never opens a file. Raises what onnxruntime raises."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = SILENT
    if onnx_int8_kernel().precision_mode:
        options.add_session_config_entry(*X64_QUANT_PRECISION)
    if external_data:
        if not hasattr(options, "add_external_initializers_from_files_in_memory"):
            raise EngineUnsupportedError(f"onnxruntime {ort.__version__} cannot take a model's external data from memory; "
                                         "upgrade it (pip install -U onnxruntime; 1.17 or newer)")
        names = list(external_data)
        buffers = [external_data[name] for name in names]
        options.add_external_initializers_from_files_in_memory(names, buffers, [len(b) for b in buffers])
    return ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])


def _spec(node: Any) -> TensorSpec:
    shape = [d if isinstance(d, int) and d > 0 else None for d in (node.shape or [])]
    return TensorSpec(name=node.name, shape=shape, dtype=ONNX_DTYPES.get(node.type, node.type))


def load_error(exc: Exception, version: str, source: str) -> EdgeportError:
    message = str(exc).strip().replace("\n", " ")
    if "NOT_IMPLEMENTED" in message or ("opset" in message.lower() and "support" in message.lower()):
        return EngineUnsupportedError(f"{source}: onnxruntime {version} cannot run this model ({message}); "
                                      "upgrade it: pip install -U onnxruntime")
    return ModelFileError(f"{source}: onnxruntime cannot read the model ({message}); "
                          "the file is not a valid ONNX model or is damaged: re-export or re-copy it")


class OnnxBackend:
    """One onnxruntime session (its `run` is thread-safe; `runtime.api` serialises calls anyway)."""

    name = "onnxruntime"
    rounding = "onnx"
    kernels = "optimized"

    def __init__(self, session: Any, version: str, threads: int, source: str):
        self._session = session
        self.version, self.threads, self.source = version, threads, source
        try:  # read once: a damaged file can hold tensor names that are not UTF-8
            self._inputs = [_spec(node) for node in session.get_inputs()]
            self._outputs = [_spec(node) for node in session.get_outputs()]
        except UnicodeDecodeError:
            raise ModelFileError(f"{source}: the model's tensor names are not valid UTF-8; the file is damaged: "
                                 "re-export or re-copy it") from None
        self._input_names = [spec.name for spec in self._inputs]

    def inputs(self) -> list[TensorSpec]:
        return list(self._inputs)

    def outputs(self) -> list[TensorSpec]:
        return list(self._outputs)

    def run(self, feeds: list[np.ndarray]) -> list[np.ndarray]:
        try:
            return self._session.run(None, dict(zip(self._input_names, feeds)))
        except Exception as exc:  # noqa: BLE001 — onnxruntime raises its own exception classes
            message = str(exc).strip().replace("\n", " ")
            if "out of data bounds" in message or "out of bounds" in message:
                raise ValueRangeError(f"token ids out of the model's vocabulary range (onnxruntime: {message})") from None
            raise InferenceError(f"onnxruntime failed running {self.source}: {message}") from None


def load(model: bytes, threads: int, *, engine: str = "onnxruntime", verified: bool = True,
         source: str = "model", external_data: dict[str, bytes] | None = None) -> OnnxBackend:
    """A ready `OnnxBackend`; `threads` sets the intra-op thread pool; `external_data` as for `new_session`."""
    try:
        import onnxruntime as ort
    except Exception as exc:  # noqa: BLE001
        raise EngineMissingError(f"onnxruntime is installed but cannot be imported ({type(exc).__name__}: {exc})") from None
    if not model:
        raise ModelFileError(f"{source} is empty (0 bytes); re-export or re-copy the model")
    try:
        session = new_session(model, threads, external_data)
    except EdgeportError:  # an engine too old, or a bad EDGEPORT_ORT_INT8_PRECISION
        raise
    except Exception as exc:  # noqa: BLE001
        raise load_error(exc, ort.__version__, source) from None
    return OnnxBackend(session, ort.__version__, threads, source)
