"""Peak resident memory of `edgeport-train image` against the size of the folder (streaming check).

    python tools/bench_image_memory.py WORK_DIR [--counts 400 4000] [--source DIR]

For each count, writes a folder of that many JPEGs under WORK_DIR (the photos of --source, default
$EDGEPORT_DATA_DIR/pets, resized, cropped and jittered; random noise without a source), runs
`edgeport-train image --data FOLDER --base-weights none --epochs 1` under `/usr/bin/time -v` and prints
the peak resident set size of each run and their ratio.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

CLASSES = ("cats", "dogs", "horses")


def write_photos(root: Path, count: int, source: Path | None, seed: int = 0) -> Path:
    """`count` JPEGs of 160..320 px across CLASSES, derived from the source photos (or noise)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    originals = sorted(p for p in source.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png")) if source else []
    for i in range(count):
        folder = root / CLASSES[i % len(CLASSES)]
        folder.mkdir(parents=True, exist_ok=True)
        width, height = (int(v) for v in rng.integers(160, 321, 2))
        if originals:
            image = Image.open(originals[i % len(originals)]).convert("RGB")
            left, top = (int(v) for v in rng.integers(0, 8, 2))
            image = image.crop((left, top, image.width - left, image.height - top)).resize((width, height))
            pixels = np.asarray(image, dtype=np.int16) + rng.integers(-12, 13, (height, width, 3))
        else:
            pixels = rng.integers(0, 256, (height, width, 3))
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(folder / f"photo {i}.jpg", quality=85)
    return root


def peak_rss_kib(folder: Path, out: Path, extra: list[str]) -> tuple[int, float]:
    command = ["/usr/bin/time", "-v", sys.executable, "-m", "edgeport.train", "image", "--data", str(folder),
               "--out", str(out), "--base-weights", "none", "--epochs", "1", "--quiet", *extra]
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    if result.returncode != 0:
        raise SystemExit(f"training failed:\n{result.stderr[-3000:]}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr).group(1))
    wall = re.search(r"Elapsed \(wall clock\) time .*?: ([\d:.]+)", result.stderr).group(1)
    seconds = sum(float(part) * 60**i for i, part in enumerate(reversed(wall.split(":"))))
    return rss, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", type=Path, help="directory for the generated folders and bundles")
    parser.add_argument("--counts", type=int, nargs="+", default=[400, 4000])
    default_source = Path(os.environ["EDGEPORT_DATA_DIR"]) / "pets" if os.environ.get("EDGEPORT_DATA_DIR") else None
    parser.add_argument("--source", type=Path, default=default_source, help="photos to derive from (default: $EDGEPORT_DATA_DIR/pets)")
    parser.add_argument("--train-args", default="", help="extra edgeport-train arguments, e.g. '--image-size 128'")
    args = parser.parse_args(argv)
    results = []
    for count in args.counts:
        folder = args.work / f"photos-{count}"
        if not folder.is_dir():
            write_photos(folder, count, args.source if args.source and args.source.is_dir() else None)
        rss, seconds = peak_rss_kib(folder, args.work / f"bundle-{count}", args.train_args.split())
        results.append((count, rss))
        print(f"{count:>6} photos: peak RSS {rss / 1024:,.0f} MiB, {seconds:.0f} s", flush=True)
    if len(results) > 1:
        (small, low), (large, high) = results[0], results[-1]
        print(f"ratio {large} / {small} photos: {high / low:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
