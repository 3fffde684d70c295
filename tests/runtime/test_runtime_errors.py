"""Bad model files and every bad input, in a fresh process: a clear runtime error, a clean exit."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np

from tests.runtime.conftest import TFLITE_ENGINE, run_cli, run_python, write_manifest_doc

SCRIPT = r'''
import json, os, sys
import numpy as np
from edgeport import runtime
from edgeport.runtime import errors

models, scratch = sys.argv[1], sys.argv[2]
text = runtime.load(models + "/text_binary")
image = runtime.load(models + "/image", variant="tflite-int8")
x_text = np.load(models + "/text_binary/expected.npz")["x"]
x_image = np.load(models + "/image/expected.npz")["x"]
nan = x_image[:2].copy(); nan[0, 1, 2, 0] = np.nan
inf = x_image[:2].copy(); inf[1, 0, 0, 1] = -np.inf
cases = {
    "rank": lambda: text.predict_tensor(x_text[0]),
    "shape": lambda: text.predict_tensor(x_text[:, :5]),
    "dtype_float_tokens": lambda: text.predict_tensor(x_text.astype(np.float32)),
    "dtype_strings": lambda: text.predict_tensor(np.array([["a"] * 20])),
    "ids_too_high": lambda: text.predict_tensor(np.full((1, 20), 10**6)),
    "ids_negative": lambda: text.predict_tensor(np.full((1, 20), -3)),
    "nan": lambda: image.predict_tensor(nan),
    "inf": lambda: image.predict_tensor(inf),
    "empty_tensor": lambda: image.predict_tensor(np.zeros((0, 32, 32, 3), np.float32)),
    "empty_list": lambda: text.predict([]),
    "not_text": lambda: text.predict([b"\xff\xfe", 3]),
    "unreadable_image": lambda: image.predict([scratch + "/broken [1].jpg"]),
    "missing_image": lambda: image.predict([scratch + "/no such (image).png"]),
    "image_array_shape": lambda: image.predict([np.zeros((8, 8, 2), np.uint8)]),
    "image_array_nan": lambda: image.predict([np.full((8, 8, 3), np.nan)]),
}
for name in sorted(p for p in os.listdir(scratch) if p.endswith((".tflite", ".onnx"))):
    cases["file:" + name] = lambda name=name: runtime.load(scratch + "/" + name)
for name in ("damaged_bundle", "outside_bundle", "bad_json_bundle"):
    cases["bundle:" + name] = lambda name=name: runtime.load(scratch + "/" + name)
cases["dynamic_int8"] = lambda: runtime.load(models + "/text_topics", variant="tflite-dynamic-int8")
import importlib.util
missing = [e for e, m in (("tflite-runtime", "tflite_runtime"), ("litert", "ai_edge_litert"))
           if importlib.util.find_spec(m) is None]
if missing:
    cases["engine_missing"] = lambda: runtime.load(models + "/text_binary", variant="tflite-fp32", backend=missing[0])
for name, call in cases.items():
    try:
        call()
        print(json.dumps({"case": name, "error": None}), flush=True)
    except errors.EdgeportError as exc:
        print(json.dumps({"case": name, "error": type(exc).__name__, "message": str(exc)}), flush=True)
print(json.dumps({"case": "done"}), flush=True)
'''

EXPECTED = {
    "rank": ("ShapeError", r"takes shape \(batch, 20\) \(rank 2\), got shape \(20,\).*add a batch axis"),
    "shape": ("ShapeError", r"axis 1 is 5, the model needs 20"),
    "dtype_float_tokens": ("DtypeError", r"integer token ids"),
    "dtype_strings": ("DtypeError", r"takes numbers"),
    "ids_too_high": ("ValueRangeError", r"token id 1000000 .* outside the vocabulary range \[0, 50\)"),
    "ids_negative": ("ValueRangeError", r"token id -3"),
    "nan": ("ValueRangeError", r"NaN or inf \(first at index \(0, 1, 2, 0\)"),
    "inf": ("ValueRangeError", r"NaN or inf \(first at index \(1, 0, 0, 1\)"),
    "empty_tensor": ("EmptyBatchError", r"batch is empty"),
    "empty_list": ("EmptyBatchError", r"batch is empty"),
    "not_text": ("DtypeError", r"item 0 is bytes that are not UTF-8"),
    "unreadable_image": ("ImageError", r"cannot read image .*broken \[1\]\.jpg"),
    "missing_image": ("ImageError", r"does not exist"),
    "image_array_shape": ("ImageError", r"HxWx3"),
    "image_array_nan": ("ValueRangeError", r"NaN or inf"),
    "file:empty.onnx": ("ModelFileError", r"empty \(0 bytes\)"),
    "file:empty.tflite": ("ModelFileError", r"empty \(0 bytes\)"),
    "file:random.onnx": ("ModelFileError", r"onnxruntime cannot read the model .* re-export"),
    "file:random.tflite": ("ModelFileError", r"not a TFLite model"),
    "file:random_with_header.tflite": ("ModelFileError", r"(truncated or damaged|cannot read the model|crashed)"),
    "bundle:damaged_bundle": ("ModelFileError", r"sha256 .* corrupt or was modified"),
    "bundle:outside_bundle": ("ManifestError", r"points outside the bundle directory"),
    "bundle:bad_json_bundle": ("ManifestError", r"not valid JSON"),
    "engine_missing": ("EngineMissingError", r"pip install 'edgeport\[(tflite|litert)\]'"),
}
CUTS = (8, 40, 200, 1000, 2500, 4000)


def _scratch(tmp_path: Path, models_dir: Path) -> Path:
    rng = np.random.default_rng(0)
    tflite = (models_dir / "text_binary" / "model.fp32.tflite").read_bytes()
    onnx = (models_dir / "text_binary" / "model.fp32.onnx").read_bytes()
    for cut in CUTS:
        (tmp_path / f"truncated_{cut}.tflite").write_bytes(tflite[:cut])
        (tmp_path / f"truncated_{cut}.onnx").write_bytes(onnx[:cut])
    (tmp_path / "empty.tflite").write_bytes(b"")
    (tmp_path / "empty.onnx").write_bytes(b"")
    (tmp_path / "random.tflite").write_bytes(rng.bytes(5000))
    (tmp_path / "random.onnx").write_bytes(rng.bytes(5000))
    (tmp_path / "random_with_header.tflite").write_bytes(tflite[:8] + rng.bytes(5000))
    (tmp_path / "broken [1].jpg").write_bytes(b"\xff\xd8\xff\xe0" + rng.bytes(300))
    damaged = tmp_path / "damaged_bundle"
    shutil.copytree(models_dir / "text_binary", damaged)
    (damaged / "model.fp32.tflite").write_bytes(tflite[: len(tflite) // 2] + bytes(len(tflite) - len(tflite) // 2))
    outside = tmp_path / "outside_bundle"
    shutil.copytree(models_dir / "text_binary", outside)
    doc = json.loads((outside / "manifest.json").read_text())
    doc["artifacts"][0]["file"] = "../damaged_bundle/model.fp32.tflite"
    write_manifest_doc(outside, doc)
    bad_json = tmp_path / "bad_json_bundle"
    shutil.copytree(models_dir / "text_binary", bad_json)
    (bad_json / "manifest.json").write_text('{"schema_version": 1, "task": ')
    return tmp_path


def test_bad_files_and_inputs_raise_clear_errors_in_a_subprocess(tmp_path, models_dir):
    scratch = _scratch(tmp_path, models_dir)
    done = run_python(SCRIPT, str(models_dir), str(scratch), timeout=300)
    assert done.returncode == 0, f"exit {done.returncode} (negative: killed by a signal)\n{done.stderr[-3000:]}"
    assert "Traceback" not in done.stderr
    results = {r["case"]: r for r in map(json.loads, done.stdout.splitlines())}
    assert "done" in results
    for case, (error, pattern) in EXPECTED.items():
        if case == "engine_missing" and case not in results:
            continue
        got = results[case]
        assert got["error"] == error, f"{case}: {got}"
        assert re.search(pattern, got["message"]), f"{case}: {got['message']}"
    for cut in CUTS:
        for suffix in ("tflite", "onnx"):
            got = results[f"file:truncated_{cut}.{suffix}"]
            assert got["error"] == "ModelFileError", got
            assert "re-export or re-copy" in got["message"], got
            if suffix == "tflite" and cut >= 16:  # shorter ones lack even the file identifier
                assert "truncated or damaged" in got["message"], got
    dynamic = results["dynamic_int8"]
    if TFLITE_ENGINE == "tflite-runtime":
        assert dynamic["error"] == "EngineUnsupportedError"
        assert "FULLY_CONNECTED version 12" in dynamic["message"] and "ai-edge-litert runs it" in dynamic["message"]
    else:
        assert dynamic["error"] is None  # LiteRT runs it


def test_cli_exit_codes(tmp_path, models_dir):
    scratch = _scratch(tmp_path, models_dir)
    text, image = models_dir / "text_binary", models_dir / "image"
    cases = [
        (["predict", scratch / "damaged_bundle", "a film"], 3, "sha256"),
        (["predict", scratch / "truncated_200.tflite", scratch / "x.npy"], 3, "truncated or damaged"),
        (["info", scratch / "empty.onnx"], 3, "empty"),
        (["info", scratch / "outside_bundle"], 3, "outside the bundle"),
        (["info", tmp_path / "nowhere"], 2, "does not exist"),
        (["predict", image, scratch / "broken [1].jpg"], 2, "cannot read image"),
        (["predict", image, scratch / "missing.png"], 2, "neither an image file nor a folder"),
        (["predict", text, "a film", "--threads", "0"], 2, "threads must be a positive integer"),
        (["predict", text / "model.fp32.tflite", "words"], 2, ".npy tensor batches only"),
        (["predict", text], 2, "the following arguments are required"),
        (["predict", text, "--variant", "tflite-fp16", "x"], 3, "no variant 'tflite-fp16'"),
    ]
    for args, code, message in cases:
        done = run_cli(*args)
        assert done.returncode == code, f"{args}: exit {done.returncode}\n{done.stderr}"
        assert message in done.stderr, f"{args}: {done.stderr}"
        assert "Traceback" not in done.stderr
