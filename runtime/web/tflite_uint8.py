"""A full-integer `.tflite` with uint8 tensors at its edge, for LiteRT.js.

LiteRT.js 2.5 refuses int8 tensors at a model's inputs and outputs (`Element type INT8 is not supported`).
This adds a QUANTIZE op (uint8 → int8) after each int8 input and one (int8 → uint8) before each int8
output: the new edge tensors keep the scale and shift the zero point by 128, so `q_uint8 = q_int8 + 128`
exactly and the graph inside computes the same integers. The signature keeps its names, pointing at the
new tensors. Needs LiteRT's Python wheel for the schema (`ai-edge-litert`, the litert extra).
"""

from __future__ import annotations

import copy
from typing import Any

from edgeport.runtime.errors import EngineMissingError, ModelFileError

QUANTIZE_VERSION = 2  # int8 <-> uint8 requantisation


def _schema() -> Any:
    try:
        from ai_edge_litert import schema_py_generated
    except ImportError:
        raise EngineMissingError("shipping a tflite-int8 variant to LiteRT.js rewrites it with LiteRT's schema: "
                                 "pip install 'edgeport[litert]'") from None
    return schema_py_generated


def uint8_edges(model: bytes) -> tuple[bytes, int]:
    """`model` with each int8 input and output behind a uint8 tensor; also how many edges changed."""
    import flatbuffers

    schema = _schema()
    try:
        m = schema.ModelT.InitFromPackedBuf(model, 0)
    except Exception as exc:  # noqa: BLE001 — any failure to unpack is a damaged file
        raise ModelFileError(f"cannot read the .tflite file: {type(exc).__name__}: {exc}") from None
    int8, uint8 = schema.TensorType.INT8, schema.TensorType.UINT8
    graph = m.subgraphs[0]
    opcode = _quantize_opcode(m, schema)
    front, back, moved = [], [], {}
    graph.inputs, graph.outputs = [int(i) for i in graph.inputs], [int(i) for i in graph.outputs]
    for edge, ops in ((graph.inputs, front), (graph.outputs, back)):
        for position, index in enumerate(edge):
            tensor = graph.tensors[index]
            if tensor.type != int8:
                continue
            graph.tensors.append(_uint8_twin(tensor, uint8))
            twin = len(graph.tensors) - 1
            op = schema.OperatorT()
            op.opcodeIndex = opcode
            op.inputs, op.outputs = ([twin], [index]) if ops is front else ([index], [twin])
            ops.append(op)
            edge[position] = twin
            moved[index] = twin
    if not moved:
        return model, 0
    graph.operators = front + list(graph.operators or []) + back
    for signature in m.signatureDefs or []:
        for entry in list(signature.inputs or []) + list(signature.outputs or []):
            entry.tensorIndex = moved.get(entry.tensorIndex, entry.tensorIndex)
    builder = flatbuffers.Builder(len(model) + 4096)
    builder.Finish(m.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output()), len(moved)


def _quantize_opcode(m: Any, schema: Any) -> int:
    code = schema.BuiltinOperator.QUANTIZE
    for i, op in enumerate(m.operatorCodes or []):
        if max(op.builtinCode, op.deprecatedBuiltinCode) == code:
            op.version = max(op.version, QUANTIZE_VERSION)
            return i
    op = schema.OperatorCodeT()
    op.builtinCode, op.deprecatedBuiltinCode, op.version = code, min(code, 127), QUANTIZE_VERSION
    m.operatorCodes.append(op)
    return len(m.operatorCodes) - 1


def _uint8_twin(tensor: Any, uint8: int) -> Any:
    twin = copy.deepcopy(tensor)
    twin.type = uint8
    twin.buffer = 0  # the empty buffer: an activation
    twin.name = (tensor.name or b"") + b"_uint8"
    q = twin.quantization
    if q is None or q.scale is None or len(q.scale) != 1:
        raise ModelFileError("an int8 edge tensor without one scale and zero point cannot be shifted to uint8")
    q.zeroPoint = [int(z) + 128 for z in q.zeroPoint]
    return twin
