"""ONNX export: float32 through tf2onnx, int8 through `onnxruntime.quantization`.

`tf2onnx.convert.from_keras` breaks on Keras 3, so the model is traced with `from_function` and an
explicit input signature (dynamic batch dimension). The inputs keep their Keras names; a single output is
named `probabilities`, several outputs each after its Keras output. The quantised variants start from the
float32 file.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeport.export.calibrate import RepresentativeData, onnx_reader
from edgeport.export.model_io import model_io
from edgeport.export.converters import layer_matches, quiet
from edgeport.runtime.atomic_files import atomic_output
from edgeport.export.variants import ONNX_OPSET, Variant
from edgeport.runtime import backends
from edgeport.runtime.manifest import TensorSpec

OUTPUT_NAME = "probabilities"
COMPUTE_OPS = ("Conv", "ConvTranspose", "MatMul", "Gemm")


def export_onnx(
    model: Any,
    filepath: str | os.PathLike,
    variant: Variant,
    representative: RepresentativeData | None = None,
    source: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Write `variant` of `model` atomically to `filepath`; return converter facts.

    `source` is the float32 .onnx file the quantised variants start from (made by the `fp32` row).
    """
    if variant.name == "fp32":
        return _export_fp32(model, filepath, int(variant.options.get("opset", ONNX_OPSET)))
    if source is None:
        raise ValueError(f"{variant.key} quantises the float32 ONNX file, which is missing (its export failed)")
    if variant.calibrated:
        if representative is None:
            raise ValueError(f"{variant.key} is calibrated: pass representative data")
        return quantize_static_qdq(source, filepath, representative, StaticQuantOptions(**variant.options))
    return quantize_dynamic_int8(source, filepath, **variant.options)


def _export_fp32(model: Any, filepath: str | os.PathLike, opset: int) -> dict[str, Any]:
    import tensorflow as tf
    import tf2onnx

    signature = tuple(
        tf.TensorSpec((None, *tensor.shape[1:]), tensor.dtype, name=_input_name(tensor, i)) for i, tensor in enumerate(model.inputs)
    )
    names = model_io(model).outputs

    def outputs(*xs: Any) -> dict[str, Any]:
        ys = model(xs[0] if len(xs) == 1 else list(xs), training=False)
        if len(names) == 1:
            return {OUTPUT_NAME: ys[0] if isinstance(ys, (list, tuple)) else ys}
        ys = [ys[name] for name in names] if isinstance(ys, dict) else list(ys)
        return dict(zip(names, ys))

    function = tf.function(outputs)
    with quiet():
        proto, _ = tf2onnx.convert.from_function(function, input_signature=signature, opset=opset)
    with atomic_output(filepath) as tmp:
        tmp.write_bytes(proto.SerializeToString())
    return {"converter": "tf2onnx.convert.from_function", "tf2onnx": tf2onnx.__version__, "tensorflow": tf.__version__, "opset": str(opset)}


def _input_name(tensor: Any, index: int) -> str:
    name = str(getattr(tensor, "name", "") or f"input_{index}")
    return name.split(":")[0]


def quantize_dynamic_int8(
    source: str | os.PathLike, filepath: str | os.PathLike, weight_type: str = "QInt8", per_channel: bool = False,
    op_types: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """`quantize_dynamic`: int8 weights of `op_types` (default: ONNX Runtime's own list), activations quantised at run time."""
    import onnxruntime
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with atomic_output(filepath) as tmp, quiet():
        quantize_dynamic(str(source), str(tmp), weight_type=QuantType[weight_type], per_channel=per_channel,
                         op_types_to_quantize=list(op_types) if op_types else None)
    return {"quantizer": "onnxruntime.quantization.quantize_dynamic", "onnxruntime": onnxruntime.__version__,
            "weight_type": weight_type, "per_channel": str(per_channel), "op_types": ",".join(op_types or ("default",))}


@dataclass(frozen=True)
class StaticQuantOptions:
    """`quantize_static`'s settings (ONNX Runtime's names); the nodes of the Keras `float_layers` (and the
    convolution or matrix product feeding them) stay in float."""

    quant_format: str = "QDQ"
    weight_type: str = "QInt8"
    activation_type: str = "QInt8"
    per_channel: bool = True
    calibrate_method: str = "MinMax"
    float_layers: tuple[str, ...] = ()


def quantize_static_qdq(source: str | os.PathLike, filepath: str | os.PathLike, representative: RepresentativeData,
                        options: StaticQuantOptions = StaticQuantOptions()) -> dict[str, Any]:
    """`quant_pre_process`, then `quantize_static` calibrated on `representative` (QDQ format by default)."""
    quant_format, weight_type, activation_type = options.quant_format, options.weight_type, options.activation_type
    per_channel, calibrate_method, float_layers = options.per_channel, options.calibrate_method, options.float_layers
    import onnxruntime
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quant_pre_process, quantize_static

    input_names = [spec.name for spec in onnx_tensor_specs(source)[0]]
    # Symbolic shape inference needs sympy; ONNX's own shape inference and the optimiser still run without it.
    symbolic = importlib.util.find_spec("sympy") is not None
    with tempfile.TemporaryDirectory(prefix="edgeport-onnx-") as work:
        prepared = Path(work) / "prepared.onnx"
        with quiet():
            quant_pre_process(str(source), str(prepared), skip_symbolic_shape=not symbolic)
        excluded = nodes_of_layers(prepared, tuple(float_layers)) if float_layers else []
        with atomic_output(filepath) as tmp, quiet():
            quantize_static(
                str(prepared),
                str(tmp),
                onnx_reader(representative, input_names[0] if len(input_names) == 1 else input_names),
                quant_format=QuantFormat[quant_format],
                per_channel=per_channel,
                activation_type=QuantType[activation_type],
                weight_type=QuantType[weight_type],
                calibrate_method=CalibrationMethod[calibrate_method],
                nodes_to_exclude=excluded or None,
            )
    return {
        "quantizer": "onnxruntime.quantization.quantize_static", "onnxruntime": onnxruntime.__version__,
        "pre_process": "quant_pre_process" + ("" if symbolic else " (without symbolic shape inference: no sympy)"),
        "quant_format": quant_format, "weight_type": weight_type, "activation_type": activation_type,
        "per_channel": str(per_channel), "calibrate_method": calibrate_method,
        "calibration_samples": str(len(representative) if hasattr(representative, "__len__") else "?"),
        **({"float_nodes": ",".join(excluded) or "none matched"} if float_layers else {}),
    }


def nodes_of_layers(path: str | os.PathLike, layers: tuple[str, ...]) -> list[str]:
    """Names of the nodes of the Keras `layers` in the .onnx file, with the Conv/MatMul/Gemm feeding each
    (tf2onnx names a convolution `Conv__N` and gives the layer's name to its fused activation)."""
    import onnx

    graph = onnx.load(str(path)).graph
    producer = {out: node for node in graph.node for out in node.output}
    chosen: list[str] = []
    for node in graph.node:
        if layer_matches(node.name, layers):
            feeders = [producer[name] for name in node.input if name in producer]
            for found in [node, *(f for f in feeders if f.op_type in COMPUTE_OPS)]:
                if found.name not in chosen:
                    chosen.append(found.name)
    return chosen


def onnx_tensor_specs(path: str | os.PathLike) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """Inputs and outputs of an .onnx file as the runtime's backend reads them (what the manifest lists)."""
    return backends.tensor_specs(Path(path).read_bytes(), "onnx", Path(path).name)


def onnx_opset(path: str | os.PathLike) -> int:
    """The default-domain opset the file declares."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return next(int(o.version) for o in model.opset_import if o.domain in ("", "ai.onnx"))


def unwrapped_compute_ops(path: str | os.PathLike) -> list[str]:
    """Compute nodes (Conv, MatMul, Gemm) not fed by DequantizeLinear on every input and followed by
    QuantizeLinear on every output; empty for a fully QDQ-quantised model. Raises if there are none at all."""
    import onnx

    graph = onnx.load(str(path)).graph
    producer = {out: node.op_type for node in graph.node for out in node.output}
    consumers: dict[str, list[str]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node.op_type)
    compute = [n for n in graph.node if n.op_type in COMPUTE_OPS]
    if not compute:
        raise ValueError(f"{path} has no compute node ({', '.join(COMPUTE_OPS)})")
    unwrapped = []
    for node in compute:
        fed = all(producer.get(name) == "DequantizeLinear" for name in node.input if name)
        drained = all(consumers.get(name) and set(consumers[name]) == {"QuantizeLinear"} for name in node.output)
        if not (fed and drained):
            unwrapped.append(f"{node.op_type} {node.name}")
    return unwrapped
