"""Check that a `.tflite` flatbuffer stays inside its own bytes, before an engine reads it.

tflite-runtime builds its interpreter without verifying the flatbuffer, so a truncated or damaged
file makes it read past the end of the buffer: it crashes, or worse, it does not. This walk follows
every offset the TFLite schema defines (`tflite_layout`) from the root table down, the way
flatbuffers' own C++ verifier does, and names the first one that points outside the file. No TFLite
table contains itself, directly or not, so the walk always ends; `MAX_TABLES` bounds its work.
"""

from __future__ import annotations

import struct

from edgeport.runtime.backends.tflite_layout import TABLES, UNIONS
from edgeport.runtime.errors import ModelFileError

MAX_TABLES = 5_000_000


class Damaged(ModelFileError):
    """The flatbuffer refers to bytes it does not have."""


class _Walk:
    def __init__(self, data: bytes):
        self.data, self.size, self.tables = memoryview(data), len(data), 0

    def need(self, start: int, length: int, what: str) -> None:
        if start < 0 or length < 0 or start + length > self.size:
            raise Damaged(f"{what} at byte {start} (+{length}) lies outside the file's {self.size} bytes")

    def u8(self, at: int) -> int:
        self.need(at, 1, "a field")
        return self.data[at]

    def u16(self, at: int) -> int:
        self.need(at, 2, "a vtable entry")
        return struct.unpack_from("<H", self.data, at)[0]

    def u32(self, at: int, what: str = "an offset") -> int:
        self.need(at, 4, what)
        return struct.unpack_from("<I", self.data, at)[0]

    def u64(self, at: int) -> int:
        self.need(at, 8, "a field")
        return struct.unpack_from("<Q", self.data, at)[0]

    def field_positions(self, table: int, name: str) -> dict[int, int]:
        """The absolute position of each present field of the table at `table`, by field index."""
        self.tables += 1
        if self.tables > MAX_TABLES:
            raise Damaged("the flatbuffer claims more tables than any model has (its counts are damaged)")
        self.need(table, 4, f"table {name}")
        vtable = table - struct.unpack_from("<i", self.data, table)[0]
        vtable_size, table_size = self.u16(vtable), self.u16(vtable + 2)
        if vtable_size < 4 or vtable_size % 2:
            raise Damaged(f"table {name} at byte {table} has a malformed vtable (size {vtable_size})")
        self.need(vtable, vtable_size, f"the vtable of {name}")
        self.need(table, table_size, f"table {name}")
        positions = {}
        for index in range((vtable_size - 4) // 2):
            offset = self.u16(vtable + 4 + 2 * index)
            if offset:
                if offset >= table_size:
                    raise Damaged(f"field {index} of table {name} lies outside the table")
                positions[index] = table + offset
        return positions

    def target(self, position: int, what: str) -> int:
        return position + self.u32(position, f"the offset to {what}")

    def vector(self, position: int, element_size: int, what: str) -> tuple[int, int]:
        """(start of the elements, count) of the vector whose offset is at `position`."""
        start = self.target(position, what)
        count = self.u32(start, f"the length of {what}")
        self.need(start + 4, count * element_size, what)
        return start + 4, count

    def table(self, table: int, name: str) -> None:
        positions = self.field_positions(table, name)
        for index, field, kind, target in TABLES.get(name, ()):
            if index not in positions:
                continue
            at, what = positions[index], f"{name}.{field}"
            if kind == "string":
                start, count = self.vector(at, 1, what)
                self.need(start + count, 1, f"the end of {what}")
            elif kind == "scalars":
                self.vector(at, target, what)
            elif kind == "strings":
                start, count = self.vector(at, 4, what)
                for i in range(count):
                    element, length = self.vector(start + 4 * i, 1, what)
                    self.need(element + length, 1, f"the end of {what}")
            elif kind == "table":
                self.table(self.target(at, what), target)
            elif kind == "tables":
                start, count = self.vector(at, 4, what)
                for i in range(count):
                    self.table(self.target(start + 4 * i, what), target)
            elif kind == "union":
                union, type_index = target
                member = self.u8(positions[type_index]) if type_index in positions else 0
                if member:
                    self.table(self.target(at, what), UNIONS[union].get(member, union))
        if name == "Buffer":
            self.external_data(positions)

    def external_data(self, positions: dict[int, int]) -> None:
        """A buffer of a model over 2 GB keeps its bytes after the flatbuffer, at `offset`."""
        offset = self.u64(positions[1]) if 1 in positions else 0
        size = self.u64(positions[2]) if 2 in positions else 0
        if offset > 1:
            self.need(offset, size, "a buffer's data")


def check(model: bytes) -> None:
    """Raise `Damaged` naming the first offset of `model` that points outside it."""
    walk = _Walk(model)
    walk.table(walk.target(0, "the root table"), "Model")
