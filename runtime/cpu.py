"""Which int8 kernel onnxruntime runs on this CPU, from the CPU's flags.

On x86-64 without VNNI, onnxruntime's fast u8×s8 kernel (AVX2) adds each pair of products in a
saturating 16-bit lane; its precision mode (`session.x64quantprecision`) adds them in 32 bits, at a
cost. A VNNI CPU (`avx512_vnni` or `avx_vnni`) multiplies and adds in 32 bits already: there the
precision mode only slows the same answers down, so it is off. Where the flags cannot be read it is
on (right first, fast second). `EDGEPORT_ORT_INT8_PRECISION=1` or `=0` decides for any CPU.
"""

from __future__ import annotations

import functools
import os
import platform
from dataclasses import dataclass

from edgeport.runtime.errors import UsageError

CPUINFO = "/proc/cpuinfo"
VNNI_FLAGS = ("avx512_vnni", "avx_vnni")
PRECISION_ENV = "EDGEPORT_ORT_INT8_PRECISION"
X86_64 = ("x86_64", "amd64")
_FROM_CPU = frozenset({"<read from the CPU>"})  # default of `flags`: None means "could not be read"


@dataclass(frozen=True)
class Int8Kernel:
    """The onnxruntime int8 kernel choice: whether precision mode is on, and why."""

    precision_mode: bool
    reason: str

    def describe(self) -> str:
        """One line for `edgeport-run info`."""
        mode = "precision mode (32-bit sums)" if self.precision_mode else "fast u8×s8 kernel"
        return f"onnxruntime {mode}: {self.reason}"


@functools.lru_cache(maxsize=4)
def cpu_flags(path: str = CPUINFO) -> frozenset[str] | None:
    """The CPU's feature flags (the first `flags` line of /proc/cpuinfo), or None where they cannot be read."""
    try:
        with open(path, encoding="ascii", errors="replace") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                if key.strip() == "flags":
                    return frozenset(value.split())
    except OSError:
        return None
    return None


def _forced(value: str | None) -> bool | None:
    if value is None or value.strip() == "":
        return None
    if value.strip() in ("0", "1"):
        return value.strip() == "1"
    raise UsageError(f"{PRECISION_ENV}={value!r} is not understood: set it to 1 (precision mode on), 0 (off), "
                     "or unset it to decide from the CPU's flags")


def onnx_int8_kernel(flags: frozenset[str] | None = _FROM_CPU, machine: str | None = None,
                     env: str | None = None) -> Int8Kernel:
    """Whether onnxruntime sessions need precision mode here.

    Args:
        flags: the CPU's flags (default: read from /proc/cpuinfo; None where unreadable).
        machine: the architecture (default: `platform.machine()`).
        env: the value of `EDGEPORT_ORT_INT8_PRECISION` (default: read from the environment).
    Returns:
        The decision and its reason. Raises `UsageError` for an environment value other than 0 or 1.
    """
    forced = _forced(os.environ.get(PRECISION_ENV) if env is None else env)
    if forced is not None:
        return Int8Kernel(forced, f"{PRECISION_ENV}={int(forced)}")
    machine = (machine or platform.machine()).lower()
    if machine not in X86_64:
        return Int8Kernel(False, f"{machine} CPU: the saturating x86-64 kernel does not exist here")
    flags = cpu_flags() if flags is _FROM_CPU else flags
    if flags is None:
        return Int8Kernel(True, f"x86-64 CPU whose flags cannot be read ({CPUINFO}): kept safe from 16-bit saturation")
    vnni = [f for f in VNNI_FLAGS if f in flags]
    if vnni:
        return Int8Kernel(False, f"x86-64 CPU with {vnni[0]}: VNNI sums in 32 bits, no saturation")
    return Int8Kernel(True, "x86-64 CPU without VNNI: the AVX2 kernel would saturate in 16 bits")
