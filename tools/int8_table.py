"""One row per bundle for the README's int8 table: each variant's agreement, accuracy and Δ as export
measured them (manifest.json), and its single-image latency with the raw engine (1 thread, batch 1,
interleaved with the fp32 file of its format in the same run).

    python tools/int8_table.py artifacts/pets-s0 artifacts/pets-s1 ... [--variants tflite-int8,onnx-static-int8]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from edgeport.runtime.manifest import read_manifest

sys.path.insert(0, str(Path(__file__).parent))
from int8_sweep import latency  # noqa: E402


def row(bundle: Path, keys: list[str], repeats: int) -> list[str]:
    manifest = read_manifest(bundle)
    artifacts = [manifest.artifact(key) for key in keys]
    fp32 = {fmt: manifest.artifact(f"{fmt}-fp32") for fmt in {a.format for a in artifacts}}
    files = {a.key: bundle / a.file for a in [*artifacts, *fp32.values()]}
    shape = artifacts[0].inputs[0].shape
    x = np.random.default_rng(0).uniform(-1, 1, [1, *shape[1:]]).astype(np.float32)
    ms = latency(files, x, repeats)
    seed = json.loads((bundle / "keras/task.json").read_text()).get("seed")
    cells = [f"{bundle.name} (seed {seed})"]
    for a in artifacts:
        parity, base = a.parity, ms[fp32[a.format].key]
        n = parity["agreement_samples"]
        low, high = parity["class_agreement_ci95"]
        cells.append(f"{a.status}: {round(parity['class_agreement'] * n)}/{n} ({100 * low:.1f}–{100 * high:.1f} %), "
                     f"acc {parity['accuracy']:.3f} Δ {parity['accuracy_delta_points']:+.2f}, "
                     f"{ms[a.key]:.2f} ms vs {base:.2f} ({base / ms[a.key]:.2f}×)")
    return cells


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundles", nargs="+")
    parser.add_argument("--variants", default="tflite-int8,onnx-static-int8,tflite-dynamic-int8,tflite-fp16")
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args(argv)
    keys = args.variants.split(",")
    print("| bundle | " + " | ".join(keys) + " |")
    print("| --- " * (len(keys) + 1) + "|")
    for bundle in args.bundles:
        print("| " + " | ".join(row(Path(bundle), keys, args.repeats)) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
