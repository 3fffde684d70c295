"""`import runtime` and a full predict, in a fresh interpreter, load no TensorFlow or Keras."""

from __future__ import annotations

import json

from tests.runtime.conftest import HAS_TF, run_python

SCRIPT = r'''
import json, sys
from edgeport import runtime
after_import = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras"))
models = sys.argv[1]
answers = {
    "text": runtime.load(models + "/text_binary").classify(["A great, fun film!", "dull and boring"]),
    "text_onnx": runtime.load(models + "/text_topics", variant="onnx-fp32").classify("oil barrels"),
    "image": runtime.load(models + "/image", variant="tflite-int8").classify(models + "/images"
                                                                           + "/cat (a).png"),
}
engine = runtime.load(models + "/image").info()["backend"]
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras"))
print(json.dumps({"after_import": after_import, "after_predict": heavy, "answers": answers, "engine": engine}))
'''


def test_no_tensorflow_or_keras_in_sys_modules(models_dir):
    done = run_python(SCRIPT, str(models_dir))
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["after_import"] == [] and report["after_predict"] == []
    assert report["engine"] in ("litert", "tflite-runtime")
    assert [a[0] for a in report["answers"]["text"]] == ["positive", "negative"]
    assert report["answers"]["text_onnx"][0][0] == "crude"
    assert report["answers"]["image"][0][0] == "cats"


def test_the_check_can_fail_here():
    """The main environment has TensorFlow installed, so the test above is a real check there."""
    if not HAS_TF:
        return
    done = run_python("import sys, tensorflow, runtime; print('tensorflow' in sys.modules)")
    assert done.stdout.strip().endswith("True")
