"""The manifest export writes: it round-trips, its schema rejects bad documents, and the runtime refuses a
tampered artifact or a path that leaves the bundle."""

import copy
import json
import shutil

import pytest

from edgeport import runtime
from edgeport.runtime.errors import ManifestError, ModelFileError
from edgeport.runtime.manifest import manifest_from_dict, read_manifest, write_manifest
from tests.runtime.conftest import write_manifest_doc


@pytest.fixture
def bundle_copy(exported, tmp_path):
    """A private copy of the exported small imdb bundle, free to damage."""
    return shutil.copytree(exported("imdb").bundle, tmp_path / "bundle")


def test_manifest_round_trips(exported, tmp_path):
    e = exported("imdb")
    manifest = read_manifest(e.bundle)
    assert manifest == e.result.manifest
    assert manifest_from_dict(json.loads(json.dumps(manifest.to_dict()))) == manifest
    (tmp_path / "again").mkdir()
    write_manifest(tmp_path / "again", manifest)
    assert read_manifest(tmp_path / "again") == manifest


def _break(doc, path, value):
    *parents, last = path
    target = doc
    for key in parents:
        target = target[key]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value


@pytest.mark.parametrize(
    "path, value, message",
    [
        (("schema_version",), 99, "schema_version 99 is not supported"),
        (("task",), KeyError, "missing field 'task'"),
        (("kind",), "audio", "kind 'audio'"),
        (("labels",), [0, 1], "labels must be strings"),
        (("artifacts", 0, "sha256"), "abc", "sha256 must be 64"),
        (("artifacts", 0, "size"), -1, "size must not be negative"),
        (("artifacts", 0, "size"), "big", "should be int"),
        (("artifacts", 0, "format"), "coreml", "format 'coreml'"),
        (("artifacts", 0, "status"), "maybe", "status 'maybe'"),
        (("artifacts", 0, "inputs", 0, "shape"), [None, "ten"], "shape must hold integers"),
        (("artifacts", 1, "variant"), "fp32", "listed twice"),
        (("artifacts", 0, "file"), "/etc/passwd", "must be relative"),
        (("artifacts", 0, "file"), "../other/model.fp32.tflite", "points outside"),
        (("preprocessing", "vocabulary"), "../../vocab.json", "points outside"),
        (("recommended",), "tflite-int4", "recommended variant"),
    ],
)
def test_schema_rejects_bad_documents(exported, path, value, message):
    doc = copy.deepcopy(read_manifest(exported("imdb").bundle).to_dict())
    _break(doc, path, value)
    with pytest.raises(ManifestError, match=message):
        manifest_from_dict(doc)


def test_a_tampered_artifact_is_refused(bundle_copy):
    path = bundle_copy / "model.int8.tflite"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit of one byte
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="sha256"):
        runtime.load(bundle_copy, variant="tflite-int8")
    runtime.load(bundle_copy, variant="tflite-fp32")  # the untouched files still load


def test_a_truncated_artifact_is_refused(bundle_copy):
    path = bundle_copy / "model.static-int8.onnx"
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(ModelFileError, match="bytes"):
        runtime.load(bundle_copy, variant="onnx-static-int8")


def test_a_path_outside_the_bundle_is_refused(bundle_copy, tmp_path):
    # A valid model with the right hash, but outside the bundle: refused for where it is.
    outside = tmp_path / "outside.tflite"
    shutil.copy(bundle_copy / "model.fp32.tflite", outside)
    doc = json.loads((bundle_copy / "manifest.json").read_text())
    doc["artifacts"][0]["file"] = "../outside.tflite"
    write_manifest_doc(bundle_copy, doc)
    with pytest.raises(ManifestError, match="outside the bundle"):
        runtime.load(bundle_copy, variant="tflite-fp32")


def test_a_link_out_of_the_bundle_is_refused(bundle_copy, tmp_path):
    outside = tmp_path / "outside.tflite"
    shutil.move(bundle_copy / "model.fp32.tflite", outside)
    (bundle_copy / "model.fp32.tflite").symlink_to(outside)
    with pytest.raises(ManifestError, match="symbolic link"):
        runtime.load(bundle_copy, variant="tflite-fp32")
