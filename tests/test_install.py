"""The installed package as a type checker sees it: found in a folder on sys.path, typed (PEP 561)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("package", ["runtime", "export", "train"])
def test_each_package_lies_in_a_folder_on_sys_path_with_its_py_typed(package: str):
    """An editable install's import hook would hide it from mypy and pyright; the Makefile installs in
    setuptools' strict editable mode, a tree of links that they follow."""
    folders = [Path(entry) / "edgeport" / package for entry in sys.path if entry]
    found = [folder for folder in folders if (folder / "__init__.py").is_file()]
    assert found, f"no folder on sys.path holds edgeport/{package}"
    assert (found[0] / "py.typed").is_file()
    spec = importlib.util.find_spec(f"edgeport.{package}")
    assert spec is not None and Path(spec.origin).resolve() == (found[0] / "__init__.py").resolve()
