"""`edgeport-run pack`: a device bundle holds the chosen variants, what preprocessing reads and their golden
samples, each listed and hashed in its own manifest; it loads, predicts and verifies as the full bundle does."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from edgeport import runtime
from edgeport.runtime import pack as pack_module
from edgeport.runtime.errors import ManifestError, UsageError
from edgeport.runtime.pack import pack_bundle
from edgeport.runtime.verify import all_match, verify_bundle
from tests.runtime.conftest import TFLITE_ENGINE, manifest_doc, run_cli, write_manifest_doc

TEXTS = ["a great film, truly great", "dull and far too long", "the plot", "", "great great great acting"]


def bundle_files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_a_packed_bundle_holds_only_what_the_device_reads_each_file_hashed(text_binary, tmp_path):
    out = tmp_path / "device"
    packed = pack_bundle(text_binary, out, ["tflite-int8", "onnx-fp32"])
    assert bundle_files(out) == {"manifest.json", "model.int8.tflite", "model.fp32.onnx", "vocab.json", "labels.json",
                                 "golden/tflite-int8.npz", "golden/onnx-fp32.npz"}
    doc = manifest_doc(out)
    assert [a["variant"] + "/" + a["format"] for a in doc["artifacts"]] == ["int8/tflite", "fp32/onnx"]
    listed = {a["file"]: (a["size"], a["sha256"]) for a in doc["artifacts"]}
    listed.update({f["path"]: (f["size"], f["sha256"]) for f in doc["files"]})
    assert set(listed) == bundle_files(out) - {"manifest.json"}
    for relative, (size, sha) in listed.items():
        data = (out / relative).read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (size, sha)
        assert data == (text_binary / relative).read_bytes()
    assert doc["recommended"] == "tflite-int8"  # the full bundle recommends none: the first one packed
    assert packed.total == sum((out / p).stat().st_size for p in bundle_files(out))
    assert doc["preprocessing"] == manifest_doc(text_binary)["preprocessing"]


@pytest.mark.parametrize("key", ["tflite-int8", "onnx-fp32"])
def test_a_packed_bundle_predicts_exactly_as_the_full_one_and_verifies(text_binary, tmp_path, key):
    out = tmp_path / "device"
    pack_bundle(text_binary, out, [key])
    full = runtime.load(text_binary, variant=key, threads=1).predict(TEXTS)
    packed = runtime.load(out, threads=1)  # its recommended variant: the one packed
    assert packed.info()["variant"] == key
    np.testing.assert_array_equal(packed.predict(TEXTS), full)
    checks = verify_bundle(out)
    assert [c.variant for c in checks] == [key] and all_match(checks)


def test_image_bundle_packs_and_predicts_the_same_photos(image_bundle, tmp_path):
    from PIL import Image

    photos = []
    rng = np.random.default_rng(0)
    for i in range(3):
        photos.append(tmp_path / f"p{i}.png")
        Image.fromarray(rng.integers(0, 256, (40 + 7 * i, 50, 3), dtype=np.uint8)).save(photos[-1])
    out = tmp_path / "device"
    pack_bundle(image_bundle, out, ["tflite-int8"])
    assert "vocab.json" not in bundle_files(out) and "labels.json" in bundle_files(out)
    np.testing.assert_array_equal(runtime.load(out, threads=1).predict(photos),
                                  runtime.load(image_bundle, variant="tflite-int8", threads=1).predict(photos))


def test_the_default_is_the_recommended_variant(text_topics, tmp_path):
    recommended = manifest_doc(text_topics)["recommended"]
    assert recommended is not None
    pack_bundle(text_topics, tmp_path / "device")
    doc = manifest_doc(tmp_path / "device")
    assert [f"{a['format']}-{a['variant']}" for a in doc["artifacts"]] == [recommended]
    assert doc["recommended"] == recommended and not (tmp_path / "device" / "keras").exists()


def test_choices_that_cannot_be_packed_are_refused_with_what_to_do(text_binary, copy_bundle, tmp_path):
    with pytest.raises(UsageError, match="recommends no variant.*--variant KEY"):
        pack_bundle(text_binary, tmp_path / "a")
    with pytest.raises(ManifestError, match="no variant 'tflite-fp16'.*tflite-fp32, tflite-int8, onnx-fp32"):
        pack_bundle(text_binary, tmp_path / "b", ["tflite-fp16"])
    failing = copy_bundle(text_binary)
    doc = manifest_doc(failing)
    doc["artifacts"][1]["status"] = "failed"
    write_manifest_doc(failing, doc)
    with pytest.raises(UsageError, match="tflite-int8 failed its checks.*tflite-fp32, onnx-fp32"):
        pack_bundle(failing, tmp_path / "c", ["tflite-int8"])
    assert not any(p.name in ("a", "b", "c") for p in tmp_path.iterdir())


def test_a_damaged_file_is_not_copied(text_binary, copy_bundle, tmp_path):
    damaged = copy_bundle(text_binary)
    data = bytearray((damaged / "vocab.json").read_bytes())
    data[-2] ^= 1
    (damaged / "vocab.json").write_bytes(bytes(data))
    with pytest.raises(runtime.errors.ModelFileError, match="vocab.json"):
        pack_bundle(damaged, tmp_path / "device", ["tflite-fp32"])
    assert not (tmp_path / "device").exists()


def test_out_must_be_new_empty_or_a_bundle_and_outside_the_source(text_binary, tmp_path):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "todo.txt").write_text("mine")
    with pytest.raises(UsageError, match="holds files but no bundle"):
        pack_bundle(text_binary, notes, ["tflite-fp32"])
    assert bundle_files(notes) == {"todo.txt"}
    with pytest.raises(UsageError, match="overlaps the bundle"):
        pack_bundle(text_binary, text_binary / "device", ["tflite-fp32"])
    out = tmp_path / "device"
    pack_bundle(text_binary, out, ["tflite-fp32", "tflite-int8"])
    pack_bundle(text_binary, out, ["onnx-fp32"])  # a bundle there is replaced whole
    assert bundle_files(out) == {"manifest.json", "model.fp32.onnx", "vocab.json", "labels.json", "golden/onnx-fp32.npz"}


def test_an_interrupted_pack_leaves_nothing_behind(text_binary, tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pack_module, "write_manifest", interrupted)
    with pytest.raises(KeyboardInterrupt):
        pack_bundle(text_binary, tmp_path / "device", ["tflite-fp32"])
    assert list(tmp_path.iterdir()) == []


def test_cli_prints_the_files_and_a_missing_bundle_exits_2_in_every_command(text_binary, tmp_path):
    done = run_cli("pack", text_binary, "--out", tmp_path / "device", "--variant", "tflite-int8,onnx-fp32")
    assert done.returncode == 0, done.stderr
    assert "model.int8.tflite" in done.stdout and "copy this folder to the board" in done.stdout
    assert len(manifest_doc(tmp_path / "device")["artifacts"]) == 2
    missing = run_cli("pack", tmp_path / "nowhere", "--out", tmp_path / "d2")
    assert missing.returncode == 2 and "does not exist" in missing.stderr and "Traceback" not in missing.stderr
    for command in (["compat"], ["bench"]):  # info, serve: test_runtime_errors, test_serve_lifecycle
        done = run_cli(*command, tmp_path / "nowhere")
        assert done.returncode == 2 and "Traceback" not in done.stderr, (command, done.stderr)
    verified = run_cli("verify", tmp_path / "device", "--backend", TFLITE_ENGINE)
    assert verified.returncode == 0 and "tflite-int8" in verified.stdout, verified.stdout + verified.stderr
