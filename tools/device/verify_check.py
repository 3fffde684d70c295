"""`edgeport-run verify` on the (emulated) device: a matching bundle, a tampered golden file, and, where
tflite-runtime is the engine for .tflite, a dynamic-range int8 variant it cannot run.

    python tools/device/verify_check.py TEXT_BINARY_BUNDLE TEXT_TOPICS_BUNDLE [BUNDLE ...]

Each further BUNDLE (e.g. one exported from a Keras model edgeport did not train) must match wherever its
variants run here; a variant that failed export's own checks may differ (printed), never be damaged.

Works on copies of the bundles as export wrote them, golden samples included. Exits 0 when every case
gives its verdict and exit status.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from edgeport.runtime import backends
from edgeport.runtime.golden import golden_file
from edgeport.runtime.manifest import read_manifest


def verify(bundle: Path, *args: str) -> tuple[int, str]:
    done = subprocess.run([sys.executable, "-m", "edgeport.runtime", "verify", str(bundle), *args],
                          capture_output=True, text=True, timeout=900)
    return done.returncode, done.stdout + done.stderr


def copied(source: Path, work: Path) -> Path:
    bundle = work / source.name
    shutil.copytree(source, bundle)
    return bundle


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset % len(data)] ^= 0xFF
    path.write_bytes(bytes(data))


def tflite_engine() -> str:
    return next(e.name for e in backends.engines_for("tflite") if backends.installed(e))


def matches_where_it_runs(bundle: Path, *args: str) -> tuple[bool, int, str]:
    """Every variant that passed export's checks matches here (or cannot run, or is not checked); one that
    failed them may also differ (an engine on another CPU may round it otherwise), but is never damaged."""
    code, out = verify(bundle, "--json", *args)
    passed = {a.key for a in read_manifest(bundle).artifacts if a.status == "passed"}
    try:
        checks = json.JSONDecoder().raw_decode(out[out.index("{"):])[0]["variants"]
    except (ValueError, KeyError):
        return False, code, out
    allowed = {True: ("matches", "cannot run here", "not checked"),
               False: ("matches", "differs", "cannot run here", "not checked")}
    ok = any(c["verdict"] == "matches" for c in checks) and all(
        c["verdict"] in allowed[c["variant"] in passed] for c in checks)
    notes = [f"  {c['variant']} (failed export's checks): {c['detail']}" for c in checks if c["verdict"] == "differs"]
    return ok, code, "\n".join(notes) if ok else out


def main(binary: Path, topics: Path, *others: Path) -> int:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        formats = {e.format for e in backends.ENGINES.values() if backends.installed(e)}
        bundle = copied(binary, work)
        tflite_only = [] if "onnx" in formats else ["--backend", tflite_engine()]  # armv7: no onnxruntime
        code, out = verify(bundle, *tflite_only)
        results.append(("matches", code == 0 and "matches" in out, code, out))
        flip_byte(bundle / golden_file("tflite-fp32"), offset=200)
        code, out = verify(bundle, "--variant", "tflite-fp32")
        results.append(("tampered golden file", code == 1 and "damaged" in out and "sha256" in out, code, out))
        if importlib.util.find_spec("ai_edge_litert") is None and importlib.util.find_spec("tflite_runtime"):
            bundle = copied(topics, work)
            code, out = verify(bundle, "--variant", "tflite-dynamic-int8")
            ok = code == 1 and "cannot run here" in out and "variants that run here: tflite-fp32" in out
            results.append(("dynamic-range int8 on tflite-runtime", ok, code, out))
        for other in others:
            ok, code, out = matches_where_it_runs(copied(other, work), *tflite_only)
            results.append((f"{other.name} as exported", ok, code, out))
    for case, ok, code, out in results:
        print(f"verify: {case}: {'as expected' if ok else 'NOT as expected'} (exit {code})")
        if not ok or out.startswith("  "):
            print(out)
    return 0 if all(ok for _, ok, _, _ in results) else 1


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    sys.exit(main(*map(Path, sys.argv[1:])))
