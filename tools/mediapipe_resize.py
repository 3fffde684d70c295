"""How MediaPipe's ImageClassifier answers on photos against edgeport's runtime, by who decodes and resizes.

    python tools/mediapipe_resize.py BUNDLE PHOTOS... [--variants KEY ...] [--json FILE]

For every .tflite variant of an image bundle and every photo (files, or folders searched for JPEG/PNG), the
file runs in ImageClassifier three ways, each against `runtime.load(BUNDLE, variant).predict(photo)`:

- `mediapipe`: MediaPipe decodes the file and resizes it (`mp.Image.create_from_file`), as an app handing it
  a photo does;
- `pillow+mediapipe`: Pillow decodes (as the runtime does), MediaPipe resizes the full-size frame;
- `edgeport pixels`: the runtime's own decoded and resized pixels (`Model.preprocessor.pixels`), handed to
  MediaPipe at the model's size, so MediaPipe resizes nothing: what an app that resizes as Pillow does gets.

It prints top-1 agreement, max |Δp| and how many photos differ by more than 1e-2, per variant and way.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

WAYS = ("mediapipe", "pillow+mediapipe", "edgeport pixels")
SUFFIXES = {".jpg", ".jpeg", ".png"}


def photos(paths: list[str]) -> list[Path]:
    found = []
    for p in map(Path, paths):
        found += sorted(f for f in p.rglob("*") if f.suffix.lower() in SUFFIXES) if p.is_dir() else [p]
    return found


def scores(classifier, image, labels: list[str]) -> np.ndarray:
    index = {name: i for i, name in enumerate(labels)}
    out = np.zeros(len(labels), np.float32)
    for category in classifier.classify(image).classifications[0].categories:
        out[index[category.category_name]] = category.score
    return out


def measure(bundle: Path, variant: str, files: list[Path]) -> dict[str, dict[str, float]]:
    import mediapipe as mp
    from mediapipe.tasks.python.core.base_options import BaseOptions
    from mediapipe.tasks.python.vision import ImageClassifier, ImageClassifierOptions

    from edgeport import runtime

    model = runtime.load(bundle, variant=variant, threads=1)
    ours = model.predict([str(f) for f in files])
    resized = model.preprocessor.pixels([str(f) for f in files])
    options = ImageClassifierOptions(base_options=BaseOptions(model_asset_path=str(bundle / model.artifact.file)))
    got = {way: np.zeros_like(ours) for way in WAYS}
    with ImageClassifier.create_from_options(options) as classifier:
        for row, path in enumerate(files):
            rgb = np.ascontiguousarray(np.asarray(Image.open(path).convert("RGB")))
            frames = (mp.Image.create_from_file(str(path)), mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb),
                      mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(resized[row])))
            for way, frame in zip(WAYS, frames):
                got[way][row] = scores(classifier, frame, model.labels)
    result = {}
    for way, p in got.items():
        delta = np.abs(p - ours).max(axis=1)
        result[way] = {"top1_agreement": float(np.mean(p.argmax(1) == ours.argmax(1))), "max_abs_diff": float(delta.max()),
                       "photos_over_1e-2": int(np.sum(delta > 1e-2)), "photos": len(files)}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("photos", nargs="+")
    parser.add_argument("--variants", nargs="+", default=["tflite-fp32", "tflite-fp16", "tflite-dynamic-int8", "tflite-int8"])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    files = photos(args.photos)
    if not files:
        parser.error("no JPEG or PNG photos found")
    table = {variant: measure(args.bundle, variant, files) for variant in args.variants}
    print(f"{len(files)} photos; MediaPipe's ImageClassifier against edgeport's runtime on the same photo")
    print(f"{'variant':<22}{'way':<18}{'top-1 equal':>12}{'max |Δp|':>11}{'> 1e-2':>8}")
    for variant, ways in table.items():
        for way, m in ways.items():
            print(f"{variant:<22}{way:<18}{m['top1_agreement']:>12.2%}{m['max_abs_diff']:>11.3g}{m['photos_over_1e-2']:>8}")
    if args.json:
        args.json.write_text(json.dumps(table, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
