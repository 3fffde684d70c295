"""The edges of a full-integer `.tflite`, rewritten for engines that refuse int8 there; the graph inside
computes the same integers.

- `uint8_edges`: a QUANTIZE op (uint8 → int8) after each int8 input and one (int8 → uint8) before each int8
  output. The new edge tensors keep the scale and shift the zero point by 128, so `q_uint8 = q_int8 + 128`
  exactly. LiteRT.js 2.5 refuses int8 edges (`Element type INT8 is not supported`); MediaPipe Tasks refuses
  int8 outputs.
- `pixel_input`: the int8 image input behind a uint8 input that takes camera pixels as they are (0–255, no
  quantisation parameters): CAST to int32, then GATHER from the 256-entry table of the input's integers
  (one table per channel: the index is offset by 256 per channel). The table is the runtime's own
  (`runtime.pixel_table`), so `pixels → model` gives the very integers normalising then quantising would,
  with no float tensor. MediaPipe's ImageClassifier takes uint8 or float32 inputs only.

The signature keeps its names, pointing at the new tensors. Needs LiteRT's Python wheel for the schema
(`ai-edge-litert`, the litert extra).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from edgeport.runtime.errors import EngineMissingError, ModelFileError

# Operator versions: the lowest that covers these types in LiteRT's and tflite-runtime's op resolvers.
VERSIONS = {"QUANTIZE": 2, "CAST": 1, "GATHER": 2, "ADD": 1}  # QUANTIZE 2: int8 <-> uint8; GATHER 2: int8


def _schema() -> Any:
    try:
        from ai_edge_litert import schema_py_generated
    except ImportError:
        raise EngineMissingError("rewriting a .tflite file's edges needs LiteRT's schema: "
                                 "pip install 'edgeport[litert]'") from None
    return schema_py_generated


def _unpack(model: bytes, schema: Any) -> Any:
    try:
        return schema.ModelT.InitFromPackedBuf(model, 0)
    except Exception as exc:  # noqa: BLE001 — any failure to unpack is a damaged file
        raise ModelFileError(f"cannot read the .tflite file: {type(exc).__name__}: {exc}") from None


def _pack(m: Any, size_hint: int) -> bytes:
    import flatbuffers

    builder = flatbuffers.Builder(size_hint + 4096)
    builder.Finish(m.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def uint8_edges(model: bytes, inputs: bool = True) -> tuple[bytes, int]:
    """`model` with each int8 input (unless `inputs` is False) and output behind a uint8 tensor; also how
    many edges changed."""
    schema = _schema()
    m = _unpack(model, schema)
    int8 = schema.TensorType.INT8
    graph = m.subgraphs[0]
    graph.inputs, graph.outputs = [int(i) for i in graph.inputs], [int(i) for i in graph.outputs]
    front, back, moved = [], [], {}
    edges = ((graph.inputs, front), (graph.outputs, back)) if inputs else ((graph.outputs, back),)
    for edge, ops in edges:
        for position, index in enumerate(edge):
            tensor = graph.tensors[index]
            if tensor.type != int8:
                continue
            twin = _add_tensor(graph, _uint8_twin(tensor, schema.TensorType.UINT8))
            pair = ([twin], [index]) if ops is front else ([index], [twin])
            ops.append(_operator(m, schema, "QUANTIZE", *pair))
            edge[position] = moved[index] = twin
    if not moved:
        return model, 0
    graph.operators = front + list(graph.operators or []) + back
    _repoint_signatures(m, moved)
    return _pack(m, len(model)), len(moved)


def pixel_input(model: bytes, table: np.ndarray) -> bytes:
    """`model` (one int8 input of shape (…, 3)) with that input behind a uint8 pixel input looked up in
    `table`: the (3, 256) int8 integers of each channel's pixel values."""
    schema = _schema()
    m = _unpack(model, schema)
    graph = m.subgraphs[0]
    graph.inputs = [int(i) for i in graph.inputs]
    table = np.asarray(table)
    if len(graph.inputs) != 1 or graph.tensors[graph.inputs[0]].type != schema.TensorType.INT8:
        raise ModelFileError("a pixel input replaces one int8 input; this file has another kind of input")
    if table.shape != (3, 256) or table.dtype != np.int8:
        raise ValueError(f"a pixel table holds (3, 256) int8 values, got {table.dtype} {table.shape}")
    target = graph.inputs[0]
    image = graph.tensors[target]
    pixels = _add_tensor(graph, _tensor(image, b"pixels", schema.TensorType.UINT8))
    indices = _add_tensor(graph, _tensor(image, b"pixel_index", schema.TensorType.INT32))
    cast = _operator(m, schema, "CAST", [pixels], [indices])
    cast.builtinOptionsType, cast.builtinOptions = schema.BuiltinOptions.CastOptions, schema.CastOptionsT()
    cast.builtinOptions.inDataType, cast.builtinOptions.outDataType = schema.TensorType.UINT8, schema.TensorType.INT32
    front = [cast]
    shared = all(np.array_equal(row, table[0]) for row in table[1:])
    if not shared:  # index + 256 · channel into the three tables laid end to end
        offsets = _constant(m, graph, schema, np.arange(3, dtype=np.int32) * 256, b"pixel_channel_offset",
                            schema.TensorType.INT32)
        offset_indices = _add_tensor(graph, _tensor(image, b"pixel_index_by_channel", schema.TensorType.INT32))
        add = _operator(m, schema, "ADD", [indices, offsets], [offset_indices])
        add.builtinOptionsType, add.builtinOptions = schema.BuiltinOptions.AddOptions, schema.AddOptionsT()
        front.append(add)
        indices = offset_indices
    values = _constant(m, graph, schema, table[0] if shared else table.reshape(-1), b"pixel_table",
                       schema.TensorType.INT8, quantization=copy.deepcopy(image.quantization))
    gather = _operator(m, schema, "GATHER", [values, indices], [target])
    gather.builtinOptionsType, gather.builtinOptions = schema.BuiltinOptions.GatherOptions, schema.GatherOptionsT()
    front.append(gather)
    graph.operators = front + list(graph.operators or [])
    graph.inputs = [pixels]
    _repoint_signatures(m, {target: pixels})
    return _pack(m, len(model) + table.size)


def _repoint_signatures(m: Any, moved: dict[int, int]) -> None:
    for signature in m.signatureDefs or []:
        for entry in list(signature.inputs or []) + list(signature.outputs or []):
            entry.tensorIndex = moved.get(entry.tensorIndex, entry.tensorIndex)


def _operator(m: Any, schema: Any, name: str, inputs: list[int], outputs: list[int]) -> Any:
    op = schema.OperatorT()
    op.opcodeIndex = _opcode(m, schema, name)
    op.inputs, op.outputs = inputs, outputs
    return op


def _opcode(m: Any, schema: Any, name: str) -> int:
    code, version = getattr(schema.BuiltinOperator, name), VERSIONS[name]
    for i, op in enumerate(m.operatorCodes or []):
        if max(op.builtinCode, op.deprecatedBuiltinCode) == code:
            op.version = max(op.version, version)
            return i
    op = schema.OperatorCodeT()
    op.builtinCode, op.deprecatedBuiltinCode, op.version = code, min(code, 127), version
    m.operatorCodes.append(op)
    return len(m.operatorCodes) - 1


def _add_tensor(graph: Any, tensor: Any) -> int:
    graph.tensors.append(tensor)
    return len(graph.tensors) - 1


def _tensor(like: Any, name: bytes, dtype: int) -> Any:
    """An activation of `like`'s shape, another type, no quantisation."""
    tensor = copy.deepcopy(like)
    tensor.type, tensor.buffer, tensor.name, tensor.quantization = dtype, 0, name, None
    return tensor


def _constant(m: Any, graph: Any, schema: Any, values: np.ndarray, name: bytes, dtype: int,
              quantization: Any = None) -> int:
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(np.ascontiguousarray(values).tobytes(), np.uint8)
    m.buffers.append(buffer)
    tensor = schema.TensorT()
    tensor.shape = list(values.shape)
    tensor.type, tensor.buffer, tensor.name, tensor.quantization = dtype, len(m.buffers) - 1, name, quantization
    return _add_tensor(graph, tensor)


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
