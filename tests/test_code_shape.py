"""The shape the code keeps: short modules, and export's functions taking their options as records."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("train", "export", "runtime")
MAX_MODULE_LINES = 400
MAX_EXPORT_PARAMETERS = 6


def _modules(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_is_over_400_lines(package: str):
    long = {str(p.relative_to(ROOT)): n for p in _modules(package) if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert long == {}


def _parameters(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    args = function.args
    names = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
    names += [a.arg for a in (args.vararg, args.kwarg) if a is not None]
    return names[1:] if names[:1] in (["self"], ["cls"]) else names


def test_no_function_in_export_takes_more_than_6_parameters():
    wide = []
    for path in _modules("export"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and len(_parameters(node)) > MAX_EXPORT_PARAMETERS:
                wide.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({len(_parameters(node))})")
    assert wide == []


def test_the_parameter_count_sees_methods_and_star_arguments():
    source = "class C:\n    def m(self, a, *b, c, **d): pass\ndef f(a, /, b, *, c): pass\n"
    functions = sorted((n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.FunctionDef)), key=lambda n: n.lineno)
    assert [len(_parameters(f)) for f in functions] == [4, 3]
