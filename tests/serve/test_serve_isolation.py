"""The runtime's core never imports the service; the service imports no TensorFlow or Keras."""

from __future__ import annotations

import json
from pathlib import Path

from tests.runtime.conftest import run_python
from tests.serve.conftest import require_serve

require_serve()

SCRIPT = r'''
import json, sys  # noqa: E402
from edgeport import runtime  # noqa: E402
from edgeport.runtime import cli  # noqa: E402
cli.build_parser()
runtime.load(sys.argv[1]).predict(["a great film"])
core = sorted(m for m in sys.modules if m.startswith("edgeport.runtime.serve") or m.split(".")[0] in ("starlette", "uvicorn"))
import edgeport.runtime.serve.app, edgeport.runtime.serve.server  # noqa: E402
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras"))
print(json.dumps({"core": core, "heavy": heavy}))
'''


def test_core_never_imports_serve_and_serve_imports_no_tensorflow(text_binary: Path):
    done = run_python(SCRIPT, str(text_binary))
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.splitlines()[-1]) == {"core": [], "heavy": []}


def test_serve_help_lists_the_options():
    done = run_python("from edgeport.runtime.cli import main; main(['serve', '--help'])")
    for option in ("--max-batch", "--max-wait-ms", "--api-key", "--max-body-mb", "--host", "--port", "--threads"):
        assert option in done.stdout
