"""`.tflite` models on LiteRT (`ai_edge_litert`), `tflite_runtime` or `tensorflow.lite`.

The three share one Python interpreter API; only the import differs. tflite-runtime 2.14 does not
verify the flatbuffer it is given, and LiteRT, which does, still crashes on some damaged files (found
by fuzzing), so a file that no manifest vouches for is first walked offset by offset (`tflite_verify`)
and then opened and run once in a throw-away process.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import struct
import subprocess
import sys
import warnings
from typing import Any, Sequence

import numpy as np

from edgeport.runtime.backends.tflite_kernels import SHORT_DEPTH, optimized_kernels_crash
from edgeport.runtime.backends.tflite_verify import Damaged, check
from edgeport.runtime.errors import (
    EdgeportError, EngineMissingError, EngineUnsupportedError, InferenceError, ModelFileError, ValueRangeError,
)
from edgeport.runtime.manifest import TensorSpec

TFLITE_IDENTIFIER = b"TFL3"
PROBE_TIMEOUT_S = 120
_PROBE = """
import os, sys
data = sys.stdin.buffer.read()
try:
    if sys.argv[2] == "litert":
        from ai_edge_litert.interpreter import Interpreter
    elif sys.argv[2] == "tflite-runtime":
        from tflite_runtime.interpreter import Interpreter
    else:
        import tensorflow as tf
        Interpreter = tf.lite.Interpreter
    from edgeport.runtime.backends.litert import open_interpreter
except BaseException:
    sys.exit(4)  # this process cannot tell: the caller goes on
try:  # a damaged file may ask for any amount of memory: allow what the import took, plus a margin
    import resource
    limit = os.sysconf("SC_PAGE_SIZE") * int(open("/proc/self/statm").read().split()[0]) + int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
except Exception:
    pass
try:
    interpreter, _ = open_interpreter(Interpreter, data, 1, sys.argv[2])
    interpreter.invoke()  # on the zeros allocate_tensors left in the inputs
except BaseException:
    sys.exit(3)  # a Python error: safe to reproduce in the caller, which reports it
"""


def import_interpreter(engine: str) -> tuple[Any, str]:
    """The engine's `Interpreter` class and version; `EngineMissingError` when it cannot be imported."""
    try:
        if engine == "litert":
            from ai_edge_litert.interpreter import Interpreter

            return Interpreter, importlib.metadata.version("ai-edge-litert")
        if engine == "tflite-runtime":
            from tflite_runtime.interpreter import Interpreter

            return Interpreter, importlib.metadata.version("tflite-runtime")
        import tensorflow as tf  # the last resort: only reached when the two above are missing

        return tf.lite.Interpreter, tf.__version__
    except Exception as exc:  # noqa: BLE001 — an engine built for another numpy fails in many ways
        raise EngineMissingError(f"{engine} is installed but cannot be imported ({type(exc).__name__}: {exc})") from None


def check_header(model: bytes, source: str) -> None:
    """Refuse, before any engine sees it, a file that cannot be a TFLite flatbuffer."""
    if not model:
        raise ModelFileError(f"{source} is empty (0 bytes); re-export or re-copy the model")
    if len(model) < 16 or model[4:8] != TFLITE_IDENTIFIER:
        raise ModelFileError(f"{source} is not a TFLite model (no 'TFL3' identifier); re-export or re-copy it")


def check_flatbuffer(model: bytes, source: str) -> None:
    """Refuse a file whose flatbuffer points outside itself: truncated, or damaged in its structure."""
    try:
        check(model)
    except Damaged as exc:
        raise ModelFileError(f"{source} is truncated or damaged ({exc}); re-export or re-copy it") from None


def probe_in_subprocess(model: bytes, source: str, engine: str = "tflite-runtime") -> None:
    """Open and run the model once in a child process; a crash there becomes a `ModelFileError` here."""
    margin = (1 << 30) + 8 * len(model)
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    try:
        done = subprocess.run([sys.executable, "-c", _PROBE, str(margin), engine], input=model, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise ModelFileError(f"{engine} did not finish opening {source} in {PROBE_TIMEOUT_S} s; "
                             "the file is probably corrupt: re-export or re-copy it") from None
    if done.returncode not in (0, 3, 4):
        how = f"signal {-done.returncode}" if done.returncode < 0 else f"exit status {done.returncode}"
        raise ModelFileError(f"{engine} crashed ({how}) opening {source}: the file is damaged in a way its structure "
                             "check cannot see, or this engine cannot run it; re-copy it, or run it on another engine "
                             "(LiteRT: pip install 'edgeport[litert]')")


def load_error(exc: Exception, engine: str, version: str, source: str) -> EdgeportError:
    """An engine's load failure as a runtime error that says what to do."""
    message = str(exc).strip()
    op = re.search(r"Didn't find op for builtin opcode '(\w+)' version '(\d+)'", message)
    if op:
        remedy = ("upgrade it: pip install -U ai-edge-litert" if engine == "litert" else
                  "ai-edge-litert runs it: pip install 'edgeport[litert]'")
        return EngineUnsupportedError(
            f"{source}: {engine} {version} cannot run this model: it has no kernel for operator {op[1]} "
            f"version {op[2]}, which current converters write (e.g. for dynamic-range int8 layers); {remedy}, "
            "or load a variant this engine runs (tflite-fp32, tflite-int8)"
        )
    custom = re.search(r"unresolved custom op: (\w+)", message) or re.search(r"(Flex\w*|Select TensorFlow op)", message)
    if custom:
        return EngineUnsupportedError(
            f"{source}: {engine} {version} cannot run operator {custom[1]} (a custom or TensorFlow op); "
            "re-export the model with TFLite builtin operators only"
        )
    first_line = message.splitlines()[0] if message else type(exc).__name__
    return ModelFileError(f"{source}: {engine} cannot read the model ({first_line}); "
                          "the file is not a valid TFLite model or is damaged: re-export or re-copy it")


def _spec(detail: dict[str, Any]) -> TensorSpec:
    signature = detail.get("shape_signature")
    shape = signature if signature is not None and len(signature) == len(detail["shape"]) else detail["shape"]
    scale, zero_point = detail.get("quantization", (0.0, 0))
    return TensorSpec(
        name=detail["name"],
        shape=[None if int(d) < 0 else int(d) for d in shape],
        dtype=np.dtype(detail["dtype"]).name,
        scale=float(scale) if scale else None,
        zero_point=int(zero_point) if scale else None,
    )


ROUNDING_BY_ARCH = {"arm64": "xnnpack", "arm32": "multiply-away", "x86": "reference"}  # measured on each;
# any other architecture is taken to use the reference kernel, as x86 does


def wheel_platforms(distribution: str = "tflite-runtime") -> list[str]:
    """The platform tags of an installed wheel, from its WHEEL file's `Tag:` lines (e.g.
    `cp311-cp311-manylinux_2_17_aarch64` → `manylinux_2_17_aarch64`); [] when not installed or unknown."""
    try:
        text = importlib.metadata.distribution(distribution).read_text("WHEEL") or ""
    except (importlib.metadata.PackageNotFoundError, OSError):
        return []
    return [line.split(":", 1)[1].strip().rsplit("-", 1)[-1].lower()
            for line in text.splitlines() if line.startswith("Tag:") and "-" in line]


def wheel_arch(platforms: Sequence[str]) -> str | None:
    """"arm64", "arm32" or "x86" for a wheel's platform tags; None when they name none of these (`any`, or none)."""
    for tag in platforms:
        if tag.endswith(("aarch64", "arm64")):
            return "arm64"
        if re.search(r"(^|_)armv?\d*[lh]?f?$", tag):
            return "arm32"
        if tag.endswith(("x86_64", "amd64", "i686", "i386", "win32")):
            return "x86"
    return None


def tflite_runtime_rounding(pointer_bits: int | None = None, platforms: Sequence[str] | None = None,
                            machine: str | None = None) -> str:
    """How tflite-runtime 2.14's QUANTIZE rounds, which differs by the architecture its wheel was built
    for: XNNPACK's on arm64, multiply-by-reciprocal with ties away from zero on 32-bit Arm, the reference
    kernel's on x86. The architecture is the interpreter's, not the kernel's: a 32-bit Raspberry Pi OS
    on a 64-bit kernel reports `aarch64` from `platform.machine()` while it runs the armv7l wheel. So the
    installed wheel's platform tag decides; without one (a source build), `platform.machine()` corrected
    by the interpreter's pointer size. Each input defaults to this process's (`struct.calcsize("P")`,
    `wheel_platforms()`, `platform.machine()`)."""
    return ROUNDING_BY_ARCH[tflite_runtime_arch(pointer_bits, platforms, machine)]


def tflite_runtime_arch(pointer_bits: int | None = None, platforms: Sequence[str] | None = None,
                        machine: str | None = None) -> str:
    """"arm64", "arm32" or "x86": what tflite-runtime was built for, decided as `tflite_runtime_rounding` says."""
    bits = pointer_bits if pointer_bits is not None else 8 * struct.calcsize("P")
    arch = wheel_arch(wheel_platforms() if platforms is None else platforms)
    if arch is None:
        name = (machine or platform.machine()).lower()
        if name in ("aarch64", "arm64") or name.startswith("arm"):
            arch = "arm64" if bits == 64 and name in ("aarch64", "arm64") else "arm32"
        else:
            arch = "x86"
    return arch


def open_interpreter(interpreter_class: Any, model: bytes, threads: int, engine: str) -> tuple[Any, str]:
    """An allocated interpreter of `model` and the kernels it runs on: "optimized", or "reference" for a
    model on which this engine's optimised kernels are known to crash (`tflite_kernels`)."""
    interpreter = interpreter_class(model_content=model, num_threads=threads)
    interpreter.allocate_tensors()
    if engine != "tflite-runtime" or not optimized_kernels_crash(
            engine, tflite_runtime_arch(), interpreter._get_ops_details(), interpreter.get_tensor_details()):
        return interpreter, "optimized"
    from tflite_runtime.interpreter import OpResolverType  # only tflite-runtime is known to need it

    interpreter = interpreter_class(model_content=model, num_threads=threads,
                                    experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interpreter.allocate_tensors()
    return interpreter, "reference"


class TFLiteBackend:
    """One TFLite interpreter. Resizes its inputs when a batch's shape changes."""

    def __init__(self, interpreter: Any, engine: str, version: str, threads: int, source: str,
                 kernels: str = "optimized"):
        self._interpreter = interpreter
        self.name, self.version, self.threads, self.source, self.kernels = engine, version, threads, source, kernels
        if kernels == "reference":
            self.rounding = "reference"
        else:
            self.rounding = tflite_runtime_rounding() if engine == "tflite-runtime" else "xnnpack"
        self._in = interpreter.get_input_details()
        self._out = interpreter.get_output_details()
        self._shapes = [tuple(int(d) for d in detail["shape"]) for detail in self._in]

    def inputs(self) -> list[TensorSpec]:
        return [_spec(d) for d in self._in]

    def outputs(self) -> list[TensorSpec]:
        return [_spec(d) for d in self._out]

    def run(self, feeds: list[np.ndarray]) -> list[np.ndarray]:
        it = self._interpreter
        try:
            resized = False
            for i, (detail, x) in enumerate(zip(self._in, feeds)):
                if x.shape != self._shapes[i]:
                    it.resize_tensor_input(detail["index"], list(x.shape), strict=True)
                    self._shapes[i], resized = x.shape, True
            if resized:
                it.allocate_tensors()
            for detail, x in zip(self._in, feeds):
                it.set_tensor(detail["index"], np.ascontiguousarray(x))
            it.invoke()
            return [it.get_tensor(detail["index"]) for detail in self._out]  # get_tensor copies
        except (ValueError, RuntimeError) as exc:
            message = str(exc).strip().replace("\n", " ")
            if "out of bounds" in message:
                raise ValueRangeError(f"token ids out of the model's vocabulary range ({self.name}: {message})") from None
            raise InferenceError(f"{self.name} failed running {self.source}: {message}") from None


def load(model: bytes, threads: int, *, engine: str, verified: bool, source: str) -> TFLiteBackend:
    """A ready `TFLiteBackend` on `engine` ("litert", "tflite-runtime" or "tf-lite")."""
    check_header(model, source)
    if not verified:
        check_flatbuffer(model, source)
    interpreter_class, version = import_interpreter(engine)
    if not verified:  # every engine: LiteRT, too, crashes on some damaged files its verifier passes
        probe_in_subprocess(model, source, engine)
    try:
        with warnings.catch_warnings():  # tf.lite warns that it is deprecated in favour of LiteRT
            warnings.simplefilter("ignore")
            interpreter, kernels = open_interpreter(interpreter_class, model, threads, engine)
    except Exception as exc:  # noqa: BLE001 — engines raise ValueError, RuntimeError, even UnicodeDecodeError
        raise load_error(exc, engine, version, source) from None
    if kernels == "reference":
        warnings.warn(f"{engine} {version} built for Arm crashes on this model's bias-free int8 FULLY_CONNECTED with "
                      f"fewer than {SHORT_DEPTH} inputs, so {source} runs on its reference kernels "
                      "(slower); LiteRT runs it on optimised ones where it installs: pip install 'edgeport[litert]'",
                      RuntimeWarning, stacklevel=4)
    try:
        return TFLiteBackend(interpreter, engine, version, threads, source, kernels)  # reads the tensor details
    except Exception as exc:  # noqa: BLE001 — engines raise ValueError, RuntimeError, even UnicodeDecodeError
        raise load_error(exc, engine, version, source) from None
