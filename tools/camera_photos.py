"""Photos at camera size: the reduced-size JPEG decode (`limits.JPEG_DRAFT`) against the full decode.

    python tools/camera_photos.py [FOLDER] [--sizes 1920x1080 4000x3000] [--size 224] [--bundle DIR --variants V ...]

Each photo of FOLDER (default $EDGEPORT_DATA_DIR/pets) is centre-cropped to the camera's aspect ratio,
upscaled (Lanczos) to each camera size and saved as a JPEG (quality 92), in memory. Per camera size it
prints how far the model-ready pixels of the reduced decode are from the full decode's (grey levels,
0..255: max, mean, the worst photo's mean) and, with --bundle, the largest change of a probability and
how many predicted classes agree. Last, `predict` on the first photo at the largest size, both ways,
timed in alternating rounds in this process (medians).
"""

from __future__ import annotations

import argparse
import io
import os
import time
from pathlib import Path

import numpy as np
from PIL import Image

from edgeport import runtime
from edgeport.runtime import limits
from edgeport.runtime.preprocess import IMAGE_SUFFIXES, decoded_size, load_pixels


def camera_jpeg(path: Path, size: tuple[int, int], quality: int = 92) -> bytes:
    """The photo centre-cropped to the aspect of `size` (width, height), upscaled to it, as JPEG bytes."""
    image = Image.open(path).convert("RGB")
    width, height = image.size
    crop_w, crop_h = min(width, height * size[0] // size[1]), min(height, width * size[1] // size[0])
    left, top = (width - crop_w) // 2, (height - crop_h) // 2
    image = image.crop((left, top, left + crop_w, top + crop_h)).resize(size, Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def compare(paths: list[Path], camera: tuple[int, int], size: tuple[int, int], interpolation: str,
            models: list[runtime.Model]) -> None:
    diffs, worst = [], 0.0
    flips, max_dp = [0] * len(models), [0.0] * len(models)
    reduced_to = None
    for path in paths:
        data = camera_jpeg(path, camera)
        reduced_to = decoded_size(data, size, draft=True)
        fast = load_pixels(data, size, interpolation, draft=True).astype(np.int16)
        full = load_pixels(data, size, interpolation, draft=False).astype(np.int16)
        d = np.abs(fast - full)
        diffs.append((int(d.max()), float(d.mean())))
        worst = max(worst, float(d.mean()))
        for i, model in enumerate(models):
            p_fast, p_full = (model.predict_tensor(model.preprocessor.normalized(x[None].astype(np.float32)))
                              for x in (fast, full))
            max_dp[i] = max(max_dp[i], float(np.abs(p_fast - p_full).max()))
            flips[i] += int(p_fast.argmax() != p_full.argmax())
    top, mean = max(m for m, _ in diffs), float(np.mean([a for _, a in diffs]))
    line = (f"{camera[0]}x{camera[1]} ({len(paths)} photos, decoded at {reduced_to[0]}x{reduced_to[1]} before the "
            f"resize to {size[1]}x{size[0]}): pixels max |Δ| {top} grey levels, mean |Δ| {mean:.3f}, "
            f"worst photo's mean {worst:.3f}")
    for model, dp, flipped in zip(models, max_dp, flips):
        line += (f"; {model.artifact.key}: probabilities max |Δ| {dp:.2e}, classes equal on "
                 f"{len(paths) - flipped}/{len(paths)}")
    print(line, flush=True)


def timing(data: bytes, model: runtime.Model, repeats: int) -> None:
    """`model.predict(file bytes)` with and without the reduced decode, alternating; medians in ms."""
    times: dict[bool, list[float]] = {True: [], False: []}
    for i in range(repeats * 2 + 2):
        draft = bool(i % 2) if (i // 2) % 2 else not (i % 2)  # a, b, b, a, ...
        limits.JPEG_DRAFT = draft
        started = time.perf_counter()
        model.predict([data])
        if i >= 2:  # the first round warms up
            times[draft].append(1000 * (time.perf_counter() - started))
    limits.JPEG_DRAFT = True
    fast, full = np.median(times[True]), np.median(times[False])
    print(f"predict on one {Image.open(io.BytesIO(data)).size} JPEG, median of {repeats}: reduced decode "
          f"{fast:.1f} ms, full decode {full:.1f} ms: {full / fast:.1f}x faster", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(os.environ.get("EDGEPORT_DATA_DIR", "data")) / "pets"
    parser.add_argument("folder", type=Path, nargs="?", default=default)
    parser.add_argument("--sizes", nargs="+", default=["1920x1080", "4000x3000"])
    parser.add_argument("--size", type=int, default=224, help="model input size without --bundle (default 224)")
    parser.add_argument("--interpolation", default="bilinear")
    parser.add_argument("--bundle", type=Path, help="an image bundle: also compare its probabilities")
    parser.add_argument("--variants", nargs="+", default=[None], help="the bundle's variants (default: as load picks)")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--limit", type=int, help="only the first N photos")
    args = parser.parse_args()
    paths = sorted(p for p in args.folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)[: args.limit]
    models = [runtime.load(args.bundle, variant=v, threads=1) for v in args.variants] if args.bundle else []
    model = models[0] if models else None
    if model is not None:
        height, width = model.preprocessor.size
        interpolation = model.preprocessor.interpolation
    else:
        height = width = args.size
        interpolation = args.interpolation
    cameras = [tuple(int(v) for v in s.split("x")) for s in args.sizes]
    for camera in cameras:
        compare(paths, camera, (height, width), interpolation, models)
    if model is None:
        spec = {"type": "image", "size": [height, width], "interpolation": interpolation, "normalization": "mobilenet"}
        from edgeport.runtime.preprocess import ImagePreprocessor

        preprocessor = ImagePreprocessor(spec)
        model = type("Preprocessing", (), {"predict": staticmethod(preprocessor)})()
    timing(camera_jpeg(paths[0], max(cameras, key=lambda c: c[0] * c[1])), model, args.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
