"""The inference engines called directly, as their own documentation shows, without edgeport: what the
runtime's answers are compared with."""

from __future__ import annotations

import importlib.util
import platform
from pathlib import Path

import numpy as np


# Test models whose bias-free int8 Dense(4) on 6 channels kills tflite-runtime 2.14's optimised kernels on Arm
# (docs/devices.md): there, the runtime and this reference run them on the engine's reference kernels.
CRASH_ON_ARM = {"image_uint8_int8.tflite"}


def tflite_interpreter(path: Path):
    """An allocated interpreter of the engine `runtime.load` prefers: LiteRT, else tflite-runtime."""
    options = {}
    if importlib.util.find_spec("ai_edge_litert") is not None:
        from ai_edge_litert.interpreter import Interpreter
    else:
        from tflite_runtime.interpreter import Interpreter, OpResolverType

        if path.name in CRASH_ON_ARM and platform.machine().lower().startswith(("arm", "aarch64")):
            options["experimental_op_resolver_type"] = OpResolverType.BUILTIN_REF
    interpreter = Interpreter(model_path=str(path), **options)
    interpreter.allocate_tensors()
    return interpreter


def tflite_run(path: Path, feeds: list[np.ndarray]) -> list[np.ndarray]:
    """One invoke on `feeds` (in input order, shapes as declared); the raw outputs in output order."""
    interpreter = tflite_interpreter(path)
    for detail, x in zip(interpreter.get_input_details(), feeds):
        interpreter.set_tensor(detail["index"], x)
    interpreter.invoke()
    return [interpreter.get_tensor(detail["index"]) for detail in interpreter.get_output_details()]


def tflite_dequantized(path: Path, raw: np.ndarray, output: int = 0) -> np.ndarray:
    """A raw output as float: (q - zero point) × scale when the output is quantised."""
    scale, zero_point = tflite_interpreter(path).get_output_details()[output]["quantization"]
    if not scale:
        return raw
    return (scale * (raw.astype(np.float64) - zero_point)).astype(np.float32)


def onnx_run(path: Path, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)
