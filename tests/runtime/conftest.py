"""Fixtures for the runtime tests, in the main environment and in the device one (no TensorFlow).

Models come from $EDGEPORT_RUNTIME_MODELS (`make test` builds them once with
tests/runtime/make_models.py), else the main environment builds them here.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

MODELS_ENV = "EDGEPORT_RUNTIME_MODELS"
HAS_TF = importlib.util.find_spec("tensorflow") is not None
HAS_LITERT = importlib.util.find_spec("ai_edge_litert") is not None
HAS_TFLITE_RUNTIME = importlib.util.find_spec("tflite_runtime") is not None
TFLITE_ENGINE = "litert" if HAS_LITERT else "tflite-runtime" if HAS_TFLITE_RUNTIME else "tf-lite"
REPO = Path(__file__).resolve().parents[2]

needs_tf = pytest.mark.skipif(not HAS_TF, reason="needs TensorFlow/Keras (main environment only)")


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get(MODELS_ENV)
    if given:
        path = Path(given)
        if not (path / "MODELS.json").is_file():
            pytest.fail(f"{MODELS_ENV}={given} holds no models: run python tests/runtime/make_models.py {given}")
        return path
    if not HAS_TF:
        pytest.skip(f"no TensorFlow to build test models and {MODELS_ENV} is not set (make test sets it)")
    from tests.runtime.make_models import build_all

    return build_all(tmp_path_factory.mktemp("runtime-models"))


@pytest.fixture(scope="session")
def text_binary(models_dir: Path) -> Path:
    return models_dir / "text_binary"


@pytest.fixture(scope="session")
def text_topics(models_dir: Path) -> Path:
    return models_dir / "text_topics"


@pytest.fixture(scope="session")
def image_bundle(models_dir: Path) -> Path:
    return models_dir / "image"


@pytest.fixture(scope="session")
def image_int8io(models_dir: Path) -> Path:
    """The image bundle with the converter's own tflite-int8 file: int8 input and output."""
    return models_dir / "image_int8io"


@pytest.fixture(scope="session")
def thirdparty(models_dir: Path) -> Path:
    """Model files as they come from elsewhere (tests/runtime/make_thirdparty.py)."""
    path = models_dir / "thirdparty"
    if not path.is_dir():
        pytest.fail(f"{models_dir} predates the third-party models: rebuild it (make runtime-models)")
    return path


@pytest.fixture
def copy_bundle(tmp_path: Path):
    """A private copy of a bundle, to damage."""

    def copy(bundle: Path) -> Path:
        target = tmp_path / bundle.name
        shutil.copytree(bundle, target)
        return target

    return copy


def expected(bundle: Path) -> tuple[np.ndarray, np.ndarray]:
    data = np.load(bundle / "expected.npz")
    return data["x"], data["y"]


def manifest_doc(bundle: Path) -> dict:
    return json.loads((bundle / "manifest.json").read_text())


def write_manifest_doc(bundle: Path, doc: dict) -> Path:
    """Write a hand-edited manifest document as `write_manifest` would: signed with its digest, so the
    test reaches the check it means (a manifest edited without this is refused by its digest)."""
    from edgeport.runtime.manifest_digest import rendered, signed

    path = bundle / "manifest.json"
    path.write_bytes(rendered(signed(doc)))
    return path


def run_python(code: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """`code` in a fresh interpreter of this environment."""
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=REPO)


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """`python -m edgeport.runtime ARGS` in a fresh interpreter."""
    return subprocess.run([sys.executable, "-m", "edgeport.runtime", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)
