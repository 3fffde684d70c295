"""`from edgeport import runtime` and a full predict, in a fresh interpreter, load neither TensorFlow nor Keras,
nor the runtime's tools (bench, compat), nor the other stages (export, train).

The check runs with this environment's interpreter: in the device environment (no TensorFlow installed) as
on the workstation (TensorFlow installed, so nothing but the runtime's own restraint keeps it out).
"""

from __future__ import annotations

import importlib.util
import json

from tests.runtime.conftest import run_python

FORBIDDEN = ("tensorflow", "keras", "tf_keras", "edgeport.runtime.bench", "edgeport.runtime.compat",
             "edgeport.export", "edgeport.train")
HAS_ONNXRUNTIME = importlib.util.find_spec("onnxruntime") is not None

SCRIPT = r'''
import importlib, importlib.util, json, sys
forbidden, planted = json.loads(sys.argv[2]), json.loads(sys.argv[3])

def loaded():
    return sorted(m for m in sys.modules if any(m == f or m.startswith(f + ".") for f in forbidden))

imported = []  # what the caller plants, to show the check sees it: whatever of it imports here
for name in planted:
    try:
        importlib.import_module(name)
        imported.append(name)
    except ImportError:
        pass
from edgeport import runtime
after_import = loaded()
models = sys.argv[1]
answers = {
    "text": runtime.load(models + "/text_binary").classify(["A great, fun film!", "dull and boring"]),
    "image": runtime.load(models + "/image", variant="tflite-int8").classify(models + "/images/cat (a).png"),
}
if importlib.util.find_spec("onnxruntime"):  # none for 32-bit Arm
    answers["text_onnx"] = runtime.load(models + "/text_topics", variant="onnx-fp32").classify("oil barrels")
engine = runtime.load(models + "/image").info()["backend"]
print(json.dumps({"imported": imported, "after_import": after_import, "after_predict": loaded(),
                  "answers": answers, "engine": engine}))
'''


def isolation_report(models_dir, planted: tuple[str, ...] = ()) -> dict:
    """Run SCRIPT in a fresh interpreter of this environment, after importing `planted` (those that import)."""
    done = run_python(SCRIPT, str(models_dir), json.dumps(FORBIDDEN), json.dumps(list(planted)))
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_no_tensorflow_or_keras_in_sys_modules(models_dir):
    report = isolation_report(models_dir)
    assert report["after_import"] == [] and report["after_predict"] == []
    assert report["engine"] in ("litert", "tflite-runtime")
    assert [a[0] for a in report["answers"]["text"]] == ["positive", "negative"]
    assert report["answers"]["image"][0][0] == "cats"
    if HAS_ONNXRUNTIME:
        assert report["answers"]["text_onnx"][0][0] == "crude"


def test_the_check_can_fail_here(models_dir):
    """The same check, with the forbidden modules imported on purpose: it names each one that imported.

    TensorFlow and Keras import only where installed; the runtime's tools import everywhere, so the check is
    shown to fail in the device environment too."""
    report = isolation_report(models_dir, FORBIDDEN)
    assert "edgeport.runtime.bench" in report["imported"] and "edgeport.runtime.compat" in report["imported"]
    if importlib.util.find_spec("tensorflow") is not None:
        assert "tensorflow" in report["imported"]
    for name in report["imported"]:
        assert name in report["after_import"] and name in report["after_predict"], name
    assert [a[0] for a in report["answers"]["text"]] == ["positive", "negative"]  # the run itself went through
