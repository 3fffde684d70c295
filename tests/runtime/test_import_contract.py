"""The import contract, read from the source (every import statement at any depth, relative ones resolved,
and `importlib.import_module`/`__import__` of a literal name):

- nothing in runtime/ imports edgeport.train, edgeport.export, TensorFlow or Keras;
- the runtime's core (runtime/*.py but its command line, and runtime/backends/) imports neither of its
  tools, edgeport.runtime.bench and edgeport.runtime.compat;
- nothing in export/ imports edgeport.train.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.runtime.conftest import REPO

PACKAGES = {"runtime": "edgeport.runtime", "export": "edgeport.export", "train": "edgeport.train"}
COMMAND_LINE = ("cli.py", "__main__.py")  # dispatches to the tools when asked: not part of the core
# The one sanctioned exception: tf.lite is the last TFLite engine tried, a workstation fallback that is
# imported only when neither LiteRT nor tflite-runtime is installed (runtime/backends/__init__.py).
ALLOWED = {("runtime/backends/litert.py", "tensorflow")}


def module_of(path: Path, root: Path, top: str) -> tuple[str, bool]:
    """(dotted name, is a package) of a source file under `root`, whose top directory maps to `top`."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    parts[0] = top
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def imported_names(source: str, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in `source`; `from a import b` counts as a and a.b."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    names: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            stem = ".".join(base + (node.module.split(".") if node.module else []))
            names.append((node.lineno, stem))
            names += [(node.lineno, f"{stem}.{alias.name}") for alias in node.names if alias.name != "*"]
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and (getattr(node.func, "attr", None) == "import_module" or getattr(node.func, "id", None) == "__import__")):
            names.append((node.lineno, node.args[0].value))
    return names


def violations(root: Path, files: list[Path], forbidden: tuple[str, ...], allowed: set = frozenset()) -> list[str]:
    """`file:line imports name` for each import under `forbidden` (a name or any of its submodules)."""
    found: dict[tuple[str, int], str] = {}  # one report per statement: its first forbidden name
    for path in files:
        rel = path.relative_to(root).as_posix()
        module, is_package = module_of(path, root, PACKAGES[rel.split("/")[0]])
        for line, name in imported_names(path.read_text(encoding="utf-8"), module, is_package):
            hit = next((f for f in forbidden if name == f or name.startswith(f + ".")), None)
            if hit and (rel, hit) not in allowed:
                found.setdefault((rel, line), name)
    return [f"{rel}:{line} imports {name}" for (rel, line), name in sorted(found.items())]


def runtime_files(root: Path) -> list[Path]:
    return sorted((root / "runtime").rglob("*.py"))


def core_files(root: Path) -> list[Path]:
    top = [p for p in sorted((root / "runtime").glob("*.py")) if p.name not in COMMAND_LINE]
    return top + sorted((root / "runtime" / "backends").rglob("*.py")) + sorted((root / "runtime" / "preprocess").rglob("*.py"))


def export_files(root: Path) -> list[Path]:
    return sorted((root / "export").rglob("*.py"))


RULES = {
    "runtime imports no other stage, TensorFlow or Keras":
        (runtime_files, ("edgeport.train", "edgeport.export", "tensorflow", "keras", "tf_keras")),
    "the runtime core imports none of its tools": (core_files, ("edgeport.runtime.bench", "edgeport.runtime.compat")),
    "export imports nothing of train": (export_files, ("edgeport.train",)),
}


@pytest.mark.parametrize("rule", [
    "runtime imports no other stage, TensorFlow or Keras",
    "the runtime core imports none of its tools",
    "export imports nothing of train",
])
def test_import_contract_holds(rule):
    select, forbidden = RULES[rule]
    files = select(REPO)
    assert len(files) > 3, f"no sources found under {REPO}"
    assert violations(REPO, files, forbidden, ALLOWED) == []


def test_core_is_what_a_device_needs():
    core = {p.relative_to(REPO).as_posix() for p in core_files(REPO)}
    assert {"runtime/api.py", "runtime/manifest.py", "runtime/backends/litert.py", "runtime/backends/onnx.py"} <= core
    assert not any(name.startswith(("runtime/bench/", "runtime/compat/", "runtime/cli.py")) for name in core)


def test_a_violation_is_found_wherever_it_hides(tmp_path):
    """A synthetic tree with one forbidden import of each kind: each is reported with its file and line."""
    (tmp_path / "runtime" / "backends").mkdir(parents=True)
    (tmp_path / "export").mkdir()
    files = {
        "runtime/__init__.py": "from edgeport.runtime import api\n",  # allowed: the core itself
        "runtime/api.py": "import os\n\ndef later():\n    import tensorflow.lite as tfl\n",
        "runtime/quant.py": "from edgeport import train\n",
        "runtime/tensors.py": "class A:\n    def f(self):\n        from edgeport.runtime.bench import runner\n",
        "runtime/backends/__init__.py": "from ...export import bundle\n",
        "runtime/backends/litert.py": "import importlib\nkeras = importlib.import_module('keras')\n",
        "runtime/backends/onnx.py": "from .. import compat\n",
        "runtime/preprocess.py": "x = __import__('edgeport.export.tflite')\n",
        "runtime/cli.py": "from edgeport.runtime import bench\n",  # the command line may
        "export/bundle.py": "def load():\n    from edgeport.train.loop import load_task_data\n",
        "export/tflite.py": "from edgeport.runtime import backends\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)

    select, forbidden = RULES["runtime imports no other stage, TensorFlow or Keras"]
    assert violations(tmp_path, select(tmp_path), forbidden) == [
        "runtime/api.py:4 imports tensorflow.lite",
        "runtime/backends/__init__.py:1 imports edgeport.export",
        "runtime/backends/litert.py:2 imports keras",
        "runtime/preprocess.py:1 imports edgeport.export.tflite",
        "runtime/quant.py:1 imports edgeport.train",
    ]
    assert violations(tmp_path, select(tmp_path), forbidden, {("runtime/backends/litert.py", "keras")}) == [
        "runtime/api.py:4 imports tensorflow.lite",
        "runtime/backends/__init__.py:1 imports edgeport.export",
        "runtime/preprocess.py:1 imports edgeport.export.tflite",
        "runtime/quant.py:1 imports edgeport.train",
    ]
    select, forbidden = RULES["the runtime core imports none of its tools"]
    assert violations(tmp_path, select(tmp_path), forbidden) == [
        "runtime/backends/onnx.py:1 imports edgeport.runtime.compat",
        "runtime/tensors.py:3 imports edgeport.runtime.bench",
    ]
    select, forbidden = RULES["export imports nothing of train"]
    assert violations(tmp_path, select(tmp_path), forbidden) == [
        "export/bundle.py:2 imports edgeport.train.loop",
    ]
