"""A `.tflite` file with its dynamic dimensions fixed, for LiteRT.js.

LiteRT.js 2.5 compiles a model for the shapes its signature declares and refuses a tensor of
`Float32[1, 224, 224, 3]` for an input declared `[-1, 224, 224, 3]`. TFLite keeps two shapes per tensor:
`shape` (the concrete one the interpreter allocates, batch 1 for edgeport's files) and `shape_signature`
(with -1 where a dimension is dynamic). This rewrites, in place and byte for byte the same size, each -1 of a
`shape_signature` to the `shape` value beside it: the same graph and weights, declared for batch 1.
"""

from __future__ import annotations

import struct

from edgeport.runtime.errors import ModelFileError

# Field indices in the TFLite schema (tensorflow/compiler/mlir/lite/schema/schema.fbs).
MODEL_SUBGRAPHS, SUBGRAPH_TENSORS, TENSOR_SHAPE, TENSOR_SHAPE_SIGNATURE = 2, 0, 0, 7


class _Reader:
    def __init__(self, data: bytearray):
        self.data = data

    def u32(self, pos: int) -> int:
        if not 0 <= pos <= len(self.data) - 4:
            raise ModelFileError("the .tflite file is damaged: an offset points outside it")
        return struct.unpack_from("<I", self.data, pos)[0]

    def field(self, table: int, index: int) -> int | None:
        """The position of a table's field, or None when it is absent."""
        vtable = table - struct.unpack_from("<i", self.data, table)[0]
        size = struct.unpack_from("<H", self.data, vtable)[0]
        if 4 + 2 * index >= size:
            return None
        offset = struct.unpack_from("<H", self.data, vtable + 4 + 2 * index)[0]
        return table + offset if offset else None

    def ref(self, table: int, index: int) -> int | None:
        """Where a table's vector or sub-table field points, or None."""
        pos = self.field(table, index)
        return None if pos is None else pos + self.u32(pos)

    def vector(self, pos: int | None) -> tuple[int, int]:
        """(first element's position, length) of the vector at `pos` ((0, 0) when absent)."""
        return (0, 0) if pos is None else (pos + 4, self.u32(pos))


def fixed_batch(model: bytes) -> tuple[bytes, int]:
    """`model` with every dynamic dimension of every tensor set to its concrete `shape` value; also how many
    dimensions changed (0: the file was already static)."""
    if len(model) < 8 or model[4:8] != b"TFL3":
        raise ModelFileError("not a .tflite file (no TFL3 identifier); pass the bundle's .tflite variant")
    data = bytearray(model)
    reader = _Reader(data)
    try:
        root = reader.u32(0)
        changed = 0
        subgraphs, n_subgraphs = reader.vector(reader.ref(root, MODEL_SUBGRAPHS))
        for s in range(n_subgraphs):
            subgraph = subgraphs + 4 * s + reader.u32(subgraphs + 4 * s)
            tensors, n_tensors = reader.vector(reader.ref(subgraph, SUBGRAPH_TENSORS))
            for t in range(n_tensors):
                tensor = tensors + 4 * t + reader.u32(tensors + 4 * t)
                changed += _fix_tensor(reader, tensor)
    except struct.error:
        raise ModelFileError("the .tflite file is damaged: its tables run past its end") from None
    return bytes(data), changed


def _fix_tensor(reader: _Reader, tensor: int) -> int:
    shape, rank = reader.vector(reader.ref(tensor, TENSOR_SHAPE))
    signature, sig_rank = reader.vector(reader.ref(tensor, TENSOR_SHAPE_SIGNATURE))
    if sig_rank == 0:
        return 0
    if sig_rank != rank:
        raise ModelFileError(f"a tensor's shape_signature has {sig_rank} dimensions but its shape {rank}")
    changed = 0
    for d in range(rank):
        if struct.unpack_from("<i", reader.data, signature + 4 * d)[0] == -1:
            concrete = struct.unpack_from("<i", reader.data, shape + 4 * d)[0]
            struct.pack_into("<i", reader.data, signature + 4 * d, max(concrete, 1))
            changed += 1
    return changed
