"""Every file a bundle's manifest lists is verified at load; links, unlisted files and oversized or
over-nested manifests are refused before they are used."""

from __future__ import annotations

import hashlib
import json
import os
import time

import numpy as np
import pytest

from edgeport import runtime
from edgeport.runtime import limits
from edgeport.runtime.errors import ManifestError, ModelFileError
from edgeport.runtime.bounded_json import json_depth, parse_json
from edgeport.runtime.golden import is_golden
from edgeport.runtime.manifest import manifest_from_bytes
from edgeport.runtime.manifest_digest import rendered, signed
from tests.runtime.conftest import expected, manifest_doc, write_manifest_doc


def listed_files(bundle) -> list[tuple[str, str | None]]:
    """(path, variant that reads it) for every file the manifest lists (golden samples too: `runtime.load`
    checks them though only `edgeport-run verify` uses them)."""
    doc = manifest_doc(bundle)
    return [(a["file"], f"{a['format']}-{a['variant']}") for a in doc["artifacts"]] + \
        [(f["path"], None) for f in doc["files"]]


@pytest.mark.parametrize("name", ["text_binary", "image"])
def test_one_changed_byte_in_any_listed_file_is_refused(name, models_dir, copy_bundle):
    bundle = copy_bundle(models_dir / name)
    files = listed_files(bundle)
    assert {"vocab.json", "labels.json"} & {f for f, _ in files}  # not only the models
    assert any(is_golden(f) for f, _ in files)
    for relative, variant in files:
        path = bundle / relative
        original = path.read_bytes()
        for position in sorted({0, len(original) // 2, len(original) - 1}):
            damaged = bytearray(original)
            damaged[position] ^= 0x01
            path.write_bytes(bytes(damaged))
            with pytest.raises(ModelFileError, match="sha256 .* the manifest says"):
                runtime.load(bundle, variant=variant)
        path.write_bytes(original + b" ")
        with pytest.raises(ModelFileError, match="the manifest says"):
            runtime.load(bundle, variant=variant)
        path.write_bytes(original)
    runtime.load(bundle)  # whole again: loads


def test_a_changed_or_unlisted_vocabulary_is_refused(text_binary, copy_bundle):
    bundle = copy_bundle(text_binary)
    before = runtime.load(bundle).predict(["a wonderful film"])
    vocab = json.loads((bundle / "vocab.json").read_text())
    vocab["wonderful"] = vocab["boring"]
    (bundle / "vocab.json").write_text(json.dumps(vocab))
    with pytest.raises(ModelFileError, match="vocab.json"):
        runtime.load(bundle)
    doc = manifest_doc(bundle)
    doc["files"] = []  # a manifest that does not vouch for the vocabulary: not read at all
    write_manifest_doc(bundle, doc)
    with pytest.raises(ManifestError, match="not listed"):
        runtime.load(bundle)
    assert before.shape == (1, 1)


@pytest.mark.parametrize("where", ["model.fp32.tflite", "vocab.json", "notes.txt", "keras/extra", "sub"])
def test_any_symbolic_link_in_the_bundle_is_refused(where, text_binary, copy_bundle):
    bundle = copy_bundle(text_binary)
    target = bundle / where
    if target.exists():  # a link to the bundle's own file, with the same bytes: refused all the same
        os.rename(target, bundle / "moved")
        target.symlink_to(bundle / "moved")
    else:
        target.parent.mkdir(exist_ok=True)
        target.symlink_to(bundle if where == "sub" else bundle / "manifest.json")
    with pytest.raises(ManifestError, match="symbolic link"):
        runtime.load(bundle)


def test_manifest_too_large_or_too_deep_is_refused_before_parsing(text_binary, copy_bundle):
    bundle = copy_bundle(text_binary)
    doc = manifest_doc(bundle)
    (bundle / "manifest.json").write_bytes(json.dumps(doc).encode() + b" " * limits.MAX_MANIFEST_BYTES)
    started = time.perf_counter()
    with pytest.raises(ManifestError, match="more than the 16,777,216"):
        runtime.load(bundle)
    assert time.perf_counter() - started < 1.0  # refused from its size, not parsed
    doc["source_model"] = {"x": json.loads("[" * 100 + "]" * 100)}
    write_manifest_doc(bundle, doc)
    with pytest.raises(ManifestError, match="nested 102 levels deep"):
        runtime.load(bundle)
    (bundle / "manifest.json").write_bytes(b"[" * 10_000_000)
    started = time.perf_counter()
    with pytest.raises(ManifestError, match="nested 10000000 levels"):
        runtime.load(bundle)
    assert time.perf_counter() - started < 5.0


def test_json_depth_ignores_brackets_in_strings():
    assert json_depth(b'{"a": "[[[{{{", "b": [1, {"c": "\\"[["}]}') == 3
    assert json_depth(b'"plain"') == 0 and json_depth(b"[[], [[]]]") == 3


def test_duplicate_keys_nan_and_bad_types_are_refused(text_binary):
    good = (text_binary / "manifest.json").read_bytes()
    manifest_from_bytes(good)
    with pytest.raises(ManifestError, match="'task' appears twice"):
        manifest_from_bytes(good.replace(b'"task":', b'"task": "x", "task":', 1))
    with pytest.raises(ManifestError, match="not valid JSON"):
        parse_json(b'{"a": NaN}', "x", 100)
    with pytest.raises(ManifestError, match="not valid JSON"):
        parse_json(b'\xff\xfe{}', "x", 100)
    doc = json.loads(good)
    for change, message in [
        (lambda d: d["files"].append({"path": "../x", "size": 1, "sha256": "0" * 64}), "outside the bundle"),
        (lambda d: d["files"].append({"path": "/etc/passwd", "size": 1, "sha256": "0" * 64}), "relative"),
        (lambda d: d["files"].append(dict(d["files"][0])), "listed twice"),
        (lambda d: d["files"].append({"path": "manifest.json", "size": 1, "sha256": "0" * 64}), "cannot list itself"),
        (lambda d: d.update(files={"vocab.json": 1}), "'files' should be list"),
        (lambda d: d["artifacts"][0].update(opset="17"), "'opset' should be int"),
        (lambda d: d.update(recommended=["x"]), "recommended"),
        (lambda d: d["preprocessing"].update(vocabulary=7), "must be a file name"),
    ]:
        broken = json.loads(json.dumps(doc))
        change(broken)
        with pytest.raises(ManifestError, match=message):
            manifest_from_bytes(rendered(signed(broken)))


def test_a_fifo_or_directory_in_place_of_a_listed_file_is_refused(text_binary, copy_bundle):
    bundle = copy_bundle(text_binary)
    (bundle / "vocab.json").unlink()
    os.mkfifo(bundle / "vocab.json")
    with pytest.raises(ModelFileError, match="not a plain file"):
        runtime.load(bundle)  # and does not block on the pipe
    (bundle / "vocab.json").unlink()
    (bundle / "vocab.json").mkdir()
    with pytest.raises(ModelFileError):
        runtime.load(bundle)


def test_onnx_external_data_is_used_only_when_listed_and_verified(text_binary, copy_bundle):
    onnx = pytest.importorskip("onnx")
    from onnx import external_data_helper

    bundle = copy_bundle(text_binary)
    model = onnx.load_from_string((bundle / "model.fp32.onnx").read_bytes())
    external_data_helper.convert_model_to_external_data(model, location="weights.bin", size_threshold=1024)
    onnx.save_model(model, str(bundle / "model.fp32.onnx"))  # writes weights.bin beside it
    data = (bundle / "model.fp32.onnx").read_bytes()
    weights = (bundle / "weights.bin").read_bytes()
    assert len(weights) > 1_000 and all(  # the weights really are outside the model file
        t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer if t.external_data)
    doc = manifest_doc(bundle)
    entry = next(a for a in doc["artifacts"] if a["format"] == "onnx")
    entry.update(size=len(data), sha256=hashlib.sha256(data).hexdigest())
    write_manifest_doc(bundle, doc)
    with pytest.raises(ManifestError, match="weights.bin.* not listed"):
        runtime.load(bundle, variant="onnx-fp32")

    doc["files"].append({"path": "weights.bin", "size": len(weights), "sha256": hashlib.sha256(weights).hexdigest()})
    write_manifest_doc(bundle, doc)
    x, y = expected(bundle)
    np.testing.assert_allclose(runtime.load(bundle, variant="onnx-fp32").predict_tensor(x), y, atol=1e-5)

    tampered = bytearray(weights)
    tampered[len(tampered) // 2] ^= 0x01
    (bundle / "weights.bin").write_bytes(bytes(tampered))
    with pytest.raises(ModelFileError, match="weights.bin"):
        runtime.load(bundle, variant="onnx-fp32")
    (bundle / "weights.bin").write_bytes(weights)
    with pytest.raises(ModelFileError, match="external files"):
        runtime.load(bundle / "model.fp32.onnx")  # a bare file cannot vouch for its data


def test_onnx_external_data_outside_the_bundle_is_refused(text_binary, copy_bundle, tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import external_data_helper

    bundle = copy_bundle(text_binary)
    model = onnx.load_from_string((bundle / "model.fp32.onnx").read_bytes())
    external_data_helper.convert_model_to_external_data(model, location="weights.bin", size_threshold=0)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    onnx.save_model(model, str(outside / "model.onnx"))
    for tensor in model.graph.initializer:  # point the model at a file beside the bundle
        for item in tensor.external_data:
            if item.key == "location":
                item.value = "../weights.bin"
    (bundle.parent / "weights.bin").write_bytes((outside / "weights.bin").read_bytes())
    data = model.SerializeToString()
    (bundle / "model.fp32.onnx").write_bytes(data)
    doc = manifest_doc(bundle)
    entry = next(a for a in doc["artifacts"] if a["format"] == "onnx")
    entry.update(size=len(data), sha256=hashlib.sha256(data).hexdigest())
    write_manifest_doc(bundle, doc)
    with pytest.raises(ManifestError, match="outside the bundle"):
        runtime.load(bundle, variant="onnx-fp32")
