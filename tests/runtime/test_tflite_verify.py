"""The flatbuffer walk that guards tflite-runtime: whole models pass, any damaged structure is named."""

from __future__ import annotations

import importlib.util
import io
import json
import random
import struct
import zipfile
from pathlib import Path

import pytest

from edgeport.runtime.backends import tflite_layout
from edgeport.runtime.backends.tflite_verify import Damaged, check
from tests.runtime.conftest import REPO, needs_tf, run_python


def _models(models_dir: Path) -> list[Path]:
    found = sorted(models_dir.glob("*/*.tflite"))
    assert found, f"no .tflite models under {models_dir}"
    return found


@needs_tf
def test_committed_layout_matches_the_schema_of_the_pinned_tensorflow():
    spec = importlib.util.spec_from_file_location("tflite_layout_tool", REPO / "tools" / "tflite_layout.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    committed = (REPO / "runtime" / "backends" / "tflite_layout.py").read_text()
    regenerate = "run: .venv/bin/python tools/tflite_layout.py > runtime/backends/tflite_layout.py"
    assert tool.render(tool.schema_module()) == committed, regenerate


def test_layout_knows_the_core_tables():
    fields = {name: {index: (kind, target) for index, _, kind, target in spec}
              for name, spec in tflite_layout.TABLES.items()}
    assert fields["Model"][2] == ("tables", "SubGraph") and fields["Model"][4] == ("tables", "Buffer")
    assert fields["SubGraph"][0] == ("tables", "Tensor") and fields["SubGraph"][3] == ("tables", "Operator")
    assert fields["Operator"][4] == ("union", ("BuiltinOptions", 3))
    assert fields["Tensor"][4] == ("table", "QuantizationParameters")
    assert tflite_layout.UNIONS["BuiltinOptions"][17] == "ReshapeOptions"


def test_no_table_contains_itself_so_the_walk_ends():
    def children(name: str) -> set[str]:
        found = set()
        for _, _, kind, target in tflite_layout.TABLES.get(name, ()):
            if kind in ("table", "tables"):
                found.add(target)
            elif kind == "union":
                found |= set(tflite_layout.UNIONS[target[0]].values())
        return found

    def reachable(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, " -> ".join(path + (name,))
        for child in children(name):
            reachable(child, path + (name,))

    reachable("Model", ())


def _flatbuffer_end(model: bytes) -> int:
    """Where the flatbuffer ends: the start of the metadata's associated files zipped onto the model (which
    LiteRT never reads, and MediaPipe checks as a zip), else the file's end."""
    try:
        with zipfile.ZipFile(io.BytesIO(model)) as archive:
            return min(info.header_offset for info in archive.infolist())
    except zipfile.BadZipFile:
        return len(model)


def test_every_model_passes_and_every_truncation_is_refused(models_dir):
    for path in _models(models_dir):
        model = path.read_bytes()
        check(model)
        end = _flatbuffer_end(model)
        step = 1 if end < 8000 else end // 997
        for cut in range(0, end, step):
            with pytest.raises(Damaged):
                check(model[:cut])


def test_pointers_out_of_the_file_and_loops_are_named(text_binary):
    model = (text_binary / "model.fp32.tflite").read_bytes()
    past_end = struct.pack("<I", len(model) + 8) + model[4:]
    with pytest.raises(Damaged, match=r"the offset to the root table|table Model at byte \d+ .* outside the file"):
        check(past_end)
    root = struct.unpack_from("<I", model, 0)[0]
    vtable_far_away = bytearray(model)
    struct.pack_into("<i", vtable_far_away, root, -(1 << 30))
    with pytest.raises(Damaged, match="outside the file"):
        check(bytes(vtable_far_away))
    huge_vector = bytearray(model)  # Model field 2 (subgraphs): claim two billion of them
    vtable = root - struct.unpack_from("<i", model, root)[0]
    subgraphs_at = root + struct.unpack_from("<H", model, vtable + 4 + 2 * 2)[0]
    vector = subgraphs_at + struct.unpack_from("<I", model, subgraphs_at)[0]
    struct.pack_into("<I", huge_vector, vector, 2_000_000_000)
    with pytest.raises(Damaged, match=r"Model.Subgraphs at byte \d+ \(\+8000000000\) lies outside"):
        check(bytes(huge_vector))
    loop = bytearray(model)  # the first subgraph points back at the root table: offsets that loop
    first = vector + 4
    struct.pack_into("<I", loop, first, (root - first) % (1 << 32))
    with pytest.raises(Damaged):
        check(bytes(loop))


FUZZ = r'''
import json, random, sys
import numpy as np
from edgeport import runtime
from edgeport.runtime import errors
path, count, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
model = open(path, "rb").read()
rng = random.Random(seed)
for i in range(count):
    damaged = bytearray(model)
    for _ in range(rng.choice((1, 1, 4))):
        damaged[rng.randrange(len(damaged))] = rng.randrange(256)
    out = sys.argv[4] + f"/m{i}.tflite"
    open(out, "wb").write(damaged)
    try:
        loaded = runtime.load(out)
        spec = loaded.info()["inputs"][0]
        loaded.predict_tensor(np.zeros([1 if d is None else d for d in spec["shape"]], spec["dtype"]))
        print(json.dumps({"i": i, "error": None}), flush=True)
    except errors.EdgeportError as exc:
        print(json.dumps({"i": i, "error": type(exc).__name__}), flush=True)
'''


def test_randomly_damaged_models_never_crash_the_process(text_binary, tmp_path):
    """Bytes changed at random: each load either works or raises a runtime error; the process survives."""
    count = 40
    done = run_python(FUZZ, str(text_binary / "model.fp32.tflite"), str(count), str(random.Random(7).randrange(10**6)),
                      str(tmp_path), timeout=600)
    assert done.returncode == 0, f"exit {done.returncode} (negative: killed by a signal)\n{done.stderr[-2000:]}"
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["i"] for r in results] == list(range(count))
    assert {r["error"] for r in results} <= {None, "ModelFileError", "InferenceError", "ValueRangeError",
                                            "EngineUnsupportedError", "ShapeError", "DtypeError"}


def test_a_crash_in_the_probe_process_becomes_a_model_file_error(monkeypatch, text_binary):
    from edgeport.runtime.backends import litert
    from edgeport.runtime.errors import ModelFileError

    model = (text_binary / "model.fp32.tflite").read_bytes()
    litert.probe_in_subprocess(model, "whole.tflite")  # a whole model: no error, whichever engine is here
    monkeypatch.setattr(litert, "_PROBE", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)")
    with pytest.raises(ModelFileError, match=r"crashed \(signal 11\) opening damaged\.tflite"):
        litert.probe_in_subprocess(model, "damaged.tflite")
