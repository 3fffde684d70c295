"""Images for the browser tests, written with Pillow: sizes that shrink, stretch and keep one axis, odd
widths, greyscale and opaque RGBA PNGs (lossless, so the page must give exactly Pillow's pixels), a JPEG, and a
text file that is not an image."""

from __future__ import annotations

from pathlib import Path

import numpy as np

SIZES = ((64, 48), (33, 97), (32, 32), (17, 9), (320, 241), (32, 200), (1, 1))


def write_test_images(folder: Path) -> Path:
    from PIL import Image

    rng = np.random.default_rng(7)
    for w, h in SIZES:
        smooth = np.linspace(0, 255, w * h * 3).reshape(h, w, 3)
        noise = rng.integers(0, 256, (h, w, 3))
        Image.fromarray(((smooth + noise) / 2).astype(np.uint8)).save(folder / f"rgb_{w}x{h}.png")
    Image.fromarray(rng.integers(0, 256, (50, 70), dtype=np.uint8), "L").save(folder / "grey_70x50.png")
    rgba = np.concatenate([rng.integers(0, 256, (40, 30, 3)), np.full((40, 30, 1), 255)], axis=2).astype(np.uint8)
    Image.fromarray(rgba, "RGBA").save(folder / "opaque_rgba_30x40.png")
    Image.fromarray(rng.integers(0, 256, (90, 120, 3), dtype=np.uint8)).save(folder / "photo.jpg", quality=90)
    (folder / "notes.txt").write_text("this is not an image\n", encoding="utf-8")
    return folder
