"""The manifest export writes: it round-trips and its schema rejects bad documents.

What `runtime.load` refuses in a bundle (a changed or truncated file, a path that leaves the bundle, a link,
a wrong schema version) is checked once, in tests/runtime (test_verified.py, test_runtime_api.py)."""

import copy
import json

import pytest

from edgeport.runtime.errors import ManifestError
from edgeport.runtime.manifest import manifest_from_dict, read_manifest, write_manifest


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
        (("recommended",), "tflite-int4", "recommended variant"),
    ],
)
def test_schema_rejects_bad_documents(exported, path, value, message):
    doc = copy.deepcopy(read_manifest(exported("imdb").bundle).to_dict())
    _break(doc, path, value)
    with pytest.raises(ManifestError, match=message):
        manifest_from_dict(doc)
