"""The runtime's variant table (`runtime.variants`): `runtime.load` ranks by its order, golden tolerances and
the integer flag are read from its rows."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from edgeport.runtime import backends, variants
from edgeport.runtime.loading import ranked_artifacts
from edgeport.runtime.golden import OTHER_TOLERANCE, tolerance
from edgeport.runtime.manifest import SCHEMA_VERSION, manifest_from_dict
from edgeport.runtime.variants import (
    FORMATS, KEYS, VARIANT_FACTS, integer_quantised, model_filename, variant_facts,
)


def manifest_of(keys):
    """A manifest listing `keys` in that order, all passed, none recommended (files never read)."""
    artifacts = [{"format": variant_facts(k).format, "variant": variant_facts(k).name, "file": variant_facts(k).filename,
                  "sha256": "0" * 64, "size": 1, "inputs": [], "outputs": [], "status": "passed"} for k in keys]
    return manifest_from_dict({"schema_version": SCHEMA_VERSION, "task": "t", "kind": "text", "labels": [],
                               "preprocessing": {}, "artifacts": artifacts, "recommended": None})


def test_load_chooses_in_the_tables_order():
    manifest = manifest_of(reversed(KEYS))
    runnable = {e.format for e in backends.ENGINES.values() if backends.installed(e)}
    expected = sorted(KEYS, key=lambda k: variant_facts(k).format not in runnable)  # stable: table order within
    assert [a.key for a in ranked_artifacts(manifest, None, None)] == expected
    for backend, fmt in (("litert", "tflite"), ("onnxruntime", "onnx")):
        assert [a.key for a in ranked_artifacts(manifest, None, backend)] == [k for k in KEYS if k.startswith(fmt + "-")]


def test_table_rows_spell_keys_and_files():
    assert FORMATS == ("tflite", "onnx") and len(KEYS) == len(set(KEYS)) == 7
    for row in VARIANT_FACTS:
        assert row.key == f"{row.format}-{row.name}" and row.filename == model_filename(row.format, row.name)
    assert variant_facts("onnx-static-int8").filename == "model.static-int8.onnx"
    with pytest.raises(KeyError, match="known: tflite-fp32, tflite-fp16"):
        variant_facts("tflite-int4")


def test_golden_tolerance_and_integer_flag_come_from_the_table():
    outputs = {"y": [[0.25, 3.0]]}
    for row in VARIANT_FACTS:
        assert tolerance(row.name, outputs) == pytest.approx(row.golden_tolerance * 3.0)
        assert integer_quantised(row.format, row.name) == row.integer == ("int8" in row.name)
    assert tolerance("imported-name", outputs) == pytest.approx(OTHER_TOLERANCE * 3.0)
    assert integer_quantised("onnx", "uint8") and not integer_quantised("onnx", "bf16")


def test_the_table_imports_only_the_standard_library():
    tree = ast.parse(Path(variants.__file__).read_text(encoding="utf-8"))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported


def test_variant_keys_are_spelled_in_the_table_alone():
    """No module of the installed package but the table holds a key as a string of its own (messages and
    help texts may name one as an example)."""
    root = Path(variants.__file__).resolve().parents[1]
    spelled = []
    for package in ("runtime", "export", "train"):
        for path in sorted((root / package).rglob("*.py")):
            if path == Path(variants.__file__).resolve():
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and node.value in KEYS:
                    spelled.append(f"{path.relative_to(root)}:{node.lineno} {node.value}")
    assert spelled == []


def test_the_browser_order_ranks_every_key_once_measured_fastest_first():
    assert sorted(variants.BROWSER_ORDER) == sorted(KEYS)
    assert variants.BROWSER_ORDER[:2] == (variants.TFLITE_FP32.key, variants.ONNX_FP32.key)
