"""The manifest's tensor specs and the engine's agree, or `runtime.load` refuses the artifact.

Export writes the specs with the runtime's own backends; a manifest edited (or written by other code) so
that it no longer describes its file is refused, naming the variant, the tensor and the field. The
manifest is hash-checked for its artifacts, not itself, so editing its JSON reaches this check.
"""

from __future__ import annotations


import pytest

from edgeport import runtime
from edgeport.runtime import backends
from edgeport.runtime.errors import EngineUnsupportedError, ModelFileError
from tests.runtime.conftest import expected, manifest_doc, write_manifest_doc


def _edit(bundle, key: str, role: str, change) -> tuple[dict, dict]:
    """Apply `change` to the first `role` tensor of artifact `key` in the bundle's manifest; (before, after)."""
    doc = manifest_doc(bundle)
    artifact = next(a for a in doc["artifacts"] if f"{a['format']}-{a['variant']}" == key)
    before = dict(artifact[role][0])
    change(artifact[role][0])
    write_manifest_doc(bundle, doc)
    return before, artifact[role][0]


def _shape_plus_one(t):
    t["shape"] = t["shape"][:-1] + [t["shape"][-1] + 1]


CHANGES = {
    "name": lambda t: t.update(name=t["name"] + "_renamed"),
    "shape": _shape_plus_one,
    "dtype": lambda t: t.update(dtype="int64" if t["dtype"] == "int32" else "float16"),
    "scale": lambda t: t.update(scale=t["scale"] * 2),
    "zero_point": lambda t: t.update(zero_point=t["zero_point"] + 1),
}


@pytest.mark.parametrize("key, role, field", [
    ("tflite-fp32", "inputs", "name"),
    ("tflite-fp32", "inputs", "shape"),
    ("tflite-fp32", "inputs", "dtype"),
    ("tflite-int8", "outputs", "scale"),
    ("tflite-int8", "outputs", "zero_point"),
    ("tflite-int8", "outputs", "shape"),
    ("onnx-fp32", "outputs", "name"),
    ("onnx-fp32", "inputs", "dtype"),
])
def test_a_manifest_that_disagrees_with_its_file_is_refused(text_binary, copy_bundle, key, role, field):
    bundle = copy_bundle(text_binary)
    before, after = _edit(bundle, key, role, CHANGES[field])
    with pytest.raises(ModelFileError) as caught:
        runtime.load(bundle, variant=key)
    message = str(caught.value)
    tensor = "input 0" if role == "inputs" else "output 0"
    assert message.startswith(f"{key}: {tensor} ({after['name']!r}) {field}: "), message
    assert f"the manifest expects {after[field]!r}" in message and f"has {before[field]!r}" in message
    assert "re-export the bundle" in message


def test_a_tensor_too_many_is_refused(text_binary, copy_bundle):
    bundle = copy_bundle(text_binary)
    doc = manifest_doc(bundle)
    doc["artifacts"][0]["outputs"].append(dict(doc["artifacts"][0]["outputs"][0], name="extra"))
    write_manifest_doc(bundle, doc)
    key = f"{doc['artifacts'][0]['format']}-{doc['artifacts'][0]['variant']}"
    with pytest.raises(ModelFileError, match=f"^{key}: the manifest lists 2 outputs, .* has 1; .*re-export"):
        runtime.load(bundle, variant=key)


def test_the_default_load_does_not_fall_back_past_a_mismatch(text_binary, copy_bundle):
    """A manifest that lies is an error, not a reason to try the next variant."""
    bundle = copy_bundle(text_binary)
    first = runtime.load(text_binary).info()["variant"]
    _edit(bundle, first, "inputs", CHANGES["name"])
    with pytest.raises(ModelFileError, match=f"^{first}: input 0"):
        runtime.load(bundle)


def test_a_scale_written_at_float32_precision_still_matches(text_binary, copy_bundle):
    bundle = copy_bundle(text_binary)
    before, after = _edit(bundle, "tflite-int8", "outputs", lambda t: t.update(scale=t["scale"] * (1 + 1e-7)))
    assert after["scale"] != before["scale"]
    x, y = expected(bundle)
    model = runtime.load(bundle, variant="tflite-int8")
    assert model.info()["outputs"][0]["scale"] == before["scale"]  # the engine's value is the one used
    assert abs(model.predict_tensor(x) - y).max() < 0.08


@pytest.mark.parametrize("bundle", ["text_binary", "text_topics", "image_bundle"])
def test_export_wrote_what_the_engine_reads(request, bundle):
    """Every artifact of the device suites' bundles (written by export) loads, and the manifest lists
    exactly the engine's tensors, quantisation parameters included."""
    path = request.getfixturevalue(bundle)
    installed = {e.format for e in backends.ENGINES.values() if backends.installed(e)}
    checked = 0
    for artifact in manifest_doc(path)["artifacts"]:
        key = f"{artifact['format']}-{artifact['variant']}"
        if artifact["format"] not in installed:
            continue  # 32-bit Arm: no onnxruntime
        try:
            info = runtime.load(path, variant=key).info()
        except EngineUnsupportedError:
            continue  # tflite-runtime 2.14 and a dynamic-range model
        assert (info["inputs"], info["outputs"]) == (artifact["inputs"], artifact["outputs"]), key
        checked += 1
    assert checked >= 2
