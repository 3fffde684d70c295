"""`edgeport-run verify` on the (emulated) device: a matching bundle, a tampered golden file, and, where
tflite-runtime is the engine for .tflite, a dynamic-range int8 variant it cannot run.

    python tools/device/verify_check.py TEXT_BINARY_BUNDLE TEXT_TOPICS_BUNDLE

Works on copies. A bundle exported with golden samples is checked as exported; one without gets
golden samples for its fp32 variants from Keras' outputs (expected.npz, tests/runtime/golden_bundles.py)
and keeps only those variants. Exits 0 when every case gives its verdict and exit status.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository: tests.runtime.golden_bundles

from edgeport.runtime import backends  # noqa: E402
from edgeport.runtime.golden import golden_file, is_golden  # noqa: E402
from edgeport.runtime.manifest import read_manifest  # noqa: E402
from tests.runtime.golden_bundles import drop_variants, flip_byte, keras_golden, list_golden  # noqa: E402


def verify(bundle: Path, *args: str) -> tuple[int, str]:
    done = subprocess.run([sys.executable, "-m", "edgeport.runtime", "verify", str(bundle), *args],
                          capture_output=True, text=True, timeout=900)
    return done.returncode, done.stdout + done.stderr


def with_golden(source: Path, work: Path, keys: list[str]) -> Path:
    """A copy of `source`; without golden samples of its own it gets Keras' for `keys`, and keeps only those."""
    bundle = work / source.name
    shutil.copytree(source, bundle)
    if not any(is_golden(f.path) for f in read_manifest(bundle).files):
        list_golden(bundle, {key: keras_golden(bundle, key) for key in keys})
        drop_variants(bundle, keys)
    return bundle


def tflite_engine() -> str:
    return next(e.name for e in backends.engines_for("tflite") if backends.installed(e))


def main(binary: Path, topics: Path) -> int:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        formats = {e.format for e in backends.ENGINES.values() if backends.installed(e)}
        fp32 = [a.key for a in read_manifest(binary).artifacts if a.variant == "fp32" and a.format in formats]
        bundle = with_golden(binary, work, fp32)
        tflite_only = [] if "onnx" in formats else ["--backend", tflite_engine()]  # armv7: no onnxruntime
        code, out = verify(bundle, *tflite_only)
        results.append(("matches", code == 0 and "matches" in out, code, out))
        flip_byte(bundle / golden_file("tflite-fp32"), offset=200)
        code, out = verify(bundle, "--variant", "tflite-fp32")
        results.append(("tampered golden file", code == 1 and "damaged" in out and "sha256" in out, code, out))
        if importlib.util.find_spec("ai_edge_litert") is None and importlib.util.find_spec("tflite_runtime"):
            bundle = with_golden(topics, work, ["tflite-fp32", "tflite-dynamic-int8"])  # never compared: cannot run
            code, out = verify(bundle, "--variant", "tflite-dynamic-int8")
            ok = code == 1 and "cannot run here" in out and "variants that run here: tflite-fp32" in out
            results.append(("dynamic-range int8 on tflite-runtime", ok, code, out))
    for case, ok, code, out in results:
        print(f"verify: {case}: {'as expected' if ok else 'NOT as expected'} (exit {code})")
        if not ok:
            print(out)
    return 0 if all(ok for _, ok, _, _ in results) else 1


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
