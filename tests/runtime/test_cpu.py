"""`runtime.cpu`: onnxruntime's precision mode is on only on x86-64 without VNNI (or unknown flags)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgeport.runtime import cpu
from edgeport.runtime.backends.onnx import X64_QUANT_PRECISION, new_session
from edgeport.runtime.errors import UsageError
from tests.runtime.conftest import run_cli

AVX2 = frozenset({"fpu", "sse4_2", "avx", "avx2", "fma"})
AVX512_VNNI = AVX2 | {"avx512f", "avx512_vnni"}
AVX_VNNI = AVX2 | {"avx_vnni"}


@pytest.mark.parametrize(("flags", "machine", "on"), [
    (AVX2, "x86_64", True),  # the saturating AVX2 kernel: 32-bit sums needed
    (AVX512_VNNI, "x86_64", False),
    (AVX_VNNI, "AMD64", False),
    (None, "x86_64", True),  # flags unreadable: safe
    (None, "aarch64", False),  # no such kernel on Arm
    (AVX2, "armv7l", False),
])
def test_precision_mode_only_without_vnni(flags, machine, on):
    kernel = cpu.onnx_int8_kernel(flags, machine, env="")
    assert kernel.precision_mode is on
    assert ("precision mode" in kernel.describe()) is on


@pytest.mark.parametrize(("env", "on"), [("1", True), ("0", False)])
def test_environment_forces_either_way(env, on):
    for flags in (AVX2, AVX512_VNNI, None):
        kernel = cpu.onnx_int8_kernel(flags, "x86_64", env=env)
        assert kernel.precision_mode is on and cpu.PRECISION_ENV in kernel.reason


def test_bad_environment_value_is_one_clear_error():
    with pytest.raises(UsageError, match=f"{cpu.PRECISION_ENV}='yes'.*1 .*0 "):
        cpu.onnx_int8_kernel(AVX2, "x86_64", env="yes")


def test_flags_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Test CPU\nflags\t\t: fpu avx2 avx512_vnni\n\nprocessor\t: 1\n"
                    "flags\t\t: fpu\n")
    assert cpu.cpu_flags(str(info)) == {"fpu", "avx2", "avx512_vnni"}
    assert cpu.cpu_flags(str(tmp_path / "missing")) is None
    (tmp_path / "noflags").write_text("Hardware\t: BCM2835\n")
    assert cpu.cpu_flags(str(tmp_path / "noflags")) is None


def precision_entry(session) -> str | None:
    """The session's `session.x64quantprecision`, or None where it was not set."""
    try:
        return session.get_session_options().get_session_config_entry(X64_QUANT_PRECISION[0])
    except Exception:  # noqa: BLE001 — onnxruntime raises for a key never set
        return None


@pytest.mark.parametrize(("env", "entry"), [("1", "1"), ("0", None)])
def test_session_gets_precision_mode_as_decided(monkeypatch, env, entry):
    from tests.runtime.test_onnx_saturation import K, saturating_model  # needs the onnx package

    monkeypatch.setenv(cpu.PRECISION_ENV, env)
    session = new_session(saturating_model(), threads=1)
    assert precision_entry(session) == entry
    (out,) = session.run(None, {"x": np.full((1, K), 6.0, np.float32)})
    if entry == "1" or not cpu.onnx_int8_kernel(env="").precision_mode:  # precision mode, or a CPU that needs none
        assert out.tolist() == [[384.0]]


def test_session_follows_this_cpu(monkeypatch):
    from tests.runtime.test_onnx_saturation import saturating_model

    monkeypatch.delenv(cpu.PRECISION_ENV, raising=False)
    expected = "1" if cpu.onnx_int8_kernel().precision_mode else None
    assert precision_entry(new_session(saturating_model(), threads=1)) == expected


def test_info_names_the_int8_kernel(text_topics, monkeypatch):
    monkeypatch.setenv(cpu.PRECISION_ENV, "0")
    done = run_cli("info", text_topics, "--variant", "onnx-fp32")
    assert done.returncode == 0, done.stderr
    assert "int8 kernel  onnxruntime fast u8×s8 kernel: EDGEPORT_ORT_INT8_PRECISION=0" in done.stdout
    monkeypatch.setenv(cpu.PRECISION_ENV, "1")
    info = json.loads(run_cli("info", text_topics, "--json", "--variant", "onnx-fp32").stdout)
    assert info["int8_kernel"].startswith("onnxruntime precision mode")
    assert "int8_kernel" not in json.loads(run_cli("info", text_topics, "--json", "--variant", "tflite-fp32").stdout)
