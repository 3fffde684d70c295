"""Find the tensors of an ONNX model that keep their data in external files, without the onnx package.

An ONNX file may name files beside it that hold its weights (`TensorProto.data_location = EXTERNAL`).
The runtime loads models from verified bytes, so such a file would be read unverified and from
wherever the name points: `runtime.api` refuses the model unless each name is a file its manifest
lists. This walks just enough of the protobuf (graph, initializers, node attributes, subgraphs,
functions) to find them; malformed bytes are left to onnxruntime to reject.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgeport.runtime.errors import ModelFileError

MAX_NESTING = 64
EXTERNAL = 1
# message type → {field number: (field's message type, ...)} for the fields that can hold tensors
_FIELDS = {
    "model": {7: "graph", 25: "function"},
    "graph": {1: "node", 5: "tensor", 15: "sparse"},
    "function": {7: "node"},
    "node": {5: "attribute"},
    "attribute": {5: "tensor", 6: "graph", 10: "tensor", 11: "graph", 22: "sparse", 23: "sparse"},
    "sparse": {1: "tensor", 2: "tensor"},
}


@dataclass(frozen=True)
class ExternalTensor:
    name: str
    location: str
    offset: int
    length: int | None


def _varint(data: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data: memoryview):
    """(field number, wire type, value) of one message: an int for varints, a memoryview for bytes."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 1:
            value, pos = None, pos + 8
        elif wire == 5:
            value, pos = None, pos + 4
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise ValueError("field runs past the end")
            value, pos = data[pos:pos + length], pos + length
        else:
            raise ValueError(f"wire type {wire}")
        yield number, wire, value


def _tensor(data: memoryview) -> ExternalTensor | None:
    name, location, external, entries = "", None, False, {}
    for number, wire, value in _fields(data):
        if number == 8 and wire == 2:
            name = bytes(value).decode("utf-8", "replace")
        elif number == 14 and wire == 0:
            external = value == EXTERNAL
        elif number == 13 and wire == 2:
            pair = {n: bytes(v).decode("utf-8", "replace") for n, w, v in _fields(value) if w == 2}
            entries[pair.get(1, "")] = pair.get(2, "")
    if not external and "location" not in entries:
        return None
    location = entries.get("location", "")
    try:
        offset = int(entries.get("offset", "0") or 0)
        length = int(entries["length"]) if entries.get("length") else None
    except ValueError:
        offset, length = -1, None
    return ExternalTensor(name, location, offset, length)


def external_tensors(model: bytes, source: str = "model") -> list[ExternalTensor]:
    """Every tensor of `model` whose data lives in an external file ([] for malformed bytes)."""
    found: list[ExternalTensor] = []
    pending = [(memoryview(model), "model", 0)]
    try:
        while pending:
            data, kind, depth = pending.pop()
            if depth > MAX_NESTING:
                raise ModelFileError(f"{source}: subgraphs nested more than {MAX_NESTING} deep; "
                                     "the file is not a model edgeport exported")
            if kind == "tensor":
                tensor = _tensor(data)
                if tensor is not None:
                    found.append(tensor)
                continue
            wanted = _FIELDS[kind]
            for number, wire, value in _fields(data):
                if wire == 2 and number in wanted:
                    pending.append((value, wanted[number], depth + 1))
    except ValueError:
        return found
    return found
