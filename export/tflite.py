"""TFLite export through `tf.lite.TFLiteConverter.from_keras_model` (works with Keras 3 models).

`from_concrete_functions` is never used: on a Keras 3 model it has written weightless files that output NaN.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from edgeport.export.calibrate import RepresentativeData, tflite_dataset
from edgeport.export.converters import layer_matches, quiet
from edgeport.runtime.atomic_files import atomic_output
from edgeport.export.variants import Variant
from edgeport.runtime import backends
from edgeport.runtime.manifest import TensorSpec

FLOAT_DTYPES = ("float16", "float32", "float64")


def export_tflite(model: Any, filepath: str | os.PathLike, variant: Variant,
                  representative: RepresentativeData | None = None) -> dict[str, Any]:
    """Convert `model` as `variant` says and write it atomically to `filepath`; return converter facts.

    Full-integer variants ask for int8 input/output; where the graph does not allow it (for example
    int32 token inputs, which always stay int32) the converter keeps that tensor's own type.
    """
    import tensorflow as tf

    options = variant.options
    if variant.calibrated and representative is None:
        raise ValueError(f"{variant.key} is calibrated: pass representative data")
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if options.get("optimize"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if options.get("supported_types"):
        converter.target_spec.supported_types = [getattr(tf, t) for t in options["supported_types"]]
    if options.get("supported_ops"):
        converter.target_spec.supported_ops = [getattr(tf.lite.OpsSet, op) for op in options["supported_ops"]]
    if variant.calibrated:
        converter.representative_dataset = tflite_dataset(representative)
    if options.get("io_type"):
        io_type = getattr(tf, options["io_type"])
        if _float_input(model):  # token ids stay int32: only float inputs become int8
            converter.inference_input_type = io_type
        converter.inference_output_type = io_type
    kept: list[str] = []
    with quiet(), warnings.catch_warnings():
        # int32 token inputs have no quantisation statistics by design; the converter warns about it.
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs were expected")
        if options.get("float_layers"):
            flatbuffer, kept = selective_quantized(converter, tflite_dataset(representative), options["float_layers"])
        else:
            flatbuffer = converter.convert()
    with atomic_output(filepath) as tmp:
        tmp.write_bytes(flatbuffer)
    facts = {"converter": "tf.lite.TFLiteConverter.from_keras_model", "tensorflow": tf.__version__}
    facts.update({k: ",".join(v) if isinstance(v, tuple) else str(v) for k, v in options.items()})
    if options.get("float_layers"):
        facts["float_ops"] = ",".join(name.split(";")[0] for name in kept) or "none matched"
    if variant.calibrated:
        facts["calibration_samples"] = str(len(representative) if hasattr(representative, "__len__") else "?")
    return facts


def selective_quantized(converter: Any, dataset: Any, layers: tuple[str, ...]) -> tuple[bytes, list[str]]:
    """Calibrated int8 model with the ops of the Keras `layers` kept in float (LiteRT's
    `QuantizationDebugger` with `denylisted_nodes`); float input and output. Returns it and the ops kept."""
    import tensorflow as tf

    debugger = tf.lite.experimental.QuantizationDebugger(converter=converter, debug_dataset=dataset)
    # The debug model checks every quantised op output with a NumericVerify op whose output is named
    # `NumericVerify/{name}{digit}:{index}`; `name` is what the denylist takes (the debugger's own reading).
    names = [re.sub(r"\d$", "", t["name"].removeprefix("NumericVerify/").rsplit(":", 1)[0])
             for t in tf.lite.Interpreter(model_content=debugger.quant_model).get_tensor_details()
             if t["name"].startswith("NumericVerify/")]
    kept = [name for name in names if layer_matches(name, layers)]
    debugger.options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=kept)
    return debugger.get_nondebug_quantized_model(), kept


def _float_input(model: Any) -> bool:
    return all(str(getattr(t, "dtype", "float32")).startswith("float") for t in model.inputs)


def interpreter(path: str | os.PathLike, threads: int | None = None) -> Any:
    """A LiteRT interpreter for `path` without the default delegates (so op details stay visible)."""
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError:  # pragma: no cover - TensorFlow's own copy
        from tensorflow.lite.python.interpreter import Interpreter, OpResolverType
    interp = Interpreter(
        model_path=str(path),
        num_threads=threads,
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    interp.allocate_tensors()
    return interp


def tflite_tensor_specs(path: str | os.PathLike) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """Inputs and outputs of a .tflite file as the runtime's backend reads them (what the manifest lists)."""
    return backends.tensor_specs(Path(path).read_bytes(), "tflite", Path(path).name)


def tflite_ops(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Every operator of the file: `op` name and the dtypes of its `inputs` and `outputs` (constants included)."""
    interp = interpreter(path)
    ops = []
    for op in interp._get_ops_details():  # the only public-enough view of the graph LiteRT offers
        if op["op_name"] == "DELEGATE":
            continue
        ops.append(
            {
                "op": op["op_name"],
                "inputs": [np.dtype(t).name for t in op.get("operand_types", [])],
                "outputs": [np.dtype(t).name for t in op.get("result_types", [])],
            }
        )
    return ops


def float_ops(path: str | os.PathLike) -> list[str]:
    """Names of the operators that read or write a float tensor; empty for a truly integer model."""
    return [op["op"] for op in tflite_ops(path) if any(t in FLOAT_DTYPES for t in op["inputs"] + op["outputs"])]
