"""The page's image path (the browser's decoder, then edgeport.js's resize and normalisation) against the
device runtime's, in headless Chromium; and the page's message for a file that is not an image."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgeport import runtime
from tests.web.conftest import needs_browser, open_page

pytestmark = needs_browser

INPUT_SCRIPT = ("const m = await window.edgeport; const out = [];"
                 "for (const u of args[0]) out.push(Array.from(await m.input(u))); return out;")
DATA = os.environ.get("EDGEPORT_DATA_DIR")


def test_pixels_match_the_runtime_on_made_images(browser, image_url, image_bundle, image_dir):
    """Lossless files of awkward sizes and modes: the page's model input is exactly the runtime's where the
    height grows or stays (Pillow's horizontal-then-vertical passes); where it shrinks, Pillow 13 may take the
    vertical pass first, and the two orders differ by one grey level in some pixels."""
    open_page(browser, image_url)
    files = sorted(p for p in image_dir.iterdir() if p.suffix == ".png")
    page = np.array(browser.run(INPUT_SCRIPT, [f"/_images/{p.name}" for p in files]), dtype=np.float32)
    model = runtime.load(image_bundle, variant="tflite-fp32")
    python = model.preprocess([str(p) for p in files]).reshape(len(files), -1)
    assert page.shape == python.shape
    grey_level = _grey_level(model)
    height = model.info()["inputs"][0]["shape"][1]
    for path, a, b in zip(files, page, python):
        with Image.open(path) as im:
            grows = im.size[1] <= height
        if grows:
            assert np.array_equal(a, b), path.name
        else:
            assert np.abs(a - b).max() <= grey_level * 1.001, path.name
    assert sum(np.array_equal(a, b) for a, b in zip(page, python)) >= len(files) - 3


def _grey_level(model) -> float:
    """One grey level in the model's input units."""
    return float(np.abs(model.preprocess([np.full((2, 2, 3), 1, np.uint8)]) - model.preprocess([np.zeros((2, 2, 3), np.uint8)])).max())


def test_jpeg_decodes_within_one_grey_level(browser, image_url, image_bundle, image_dir):
    """A JPEG: Chromium's decoder against Pillow's (both libjpeg-turbo), then the same resize."""
    open_page(browser, image_url)
    page = np.array(browser.run(INPUT_SCRIPT, ["/_images/photo.jpg"]), dtype=np.float32)
    model = runtime.load(image_bundle, variant="tflite-fp32")
    python = model.preprocess([str(image_dir / "photo.jpg")]).reshape(1, -1)
    assert np.abs(page - python).max() <= _grey_level(model) * 1.001


@pytest.mark.realdata
@pytest.mark.skipif(not DATA or not (Path(DATA or ".") / "pets").is_dir(), reason="needs the shared pets photos")
def test_shared_photos_match_the_runtime(image_site, image_bundle):
    """The 197 photos through the page (Chromium's JPEG decoder) and the runtime (Pillow's)."""
    from edgeport.runtime.cli import gather_items
    from edgeport.runtime.web.check import Tolerance, check_site

    items = gather_items("image", [str(Path(DATA) / "pets")])
    report = check_site(image_site, image_bundle, items, Tolerance(agreement=0.99, median_abs=1e-3))
    assert report.items == 197 and not report.errors
    assert report.passed, report.failures
    assert report.agreement >= 0.99 and report.median_abs <= 1e-3


def test_a_file_that_is_not_an_image_shows_one_clear_message(browser, image_url, image_dir):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    open_page(browser, image_url)
    browser.driver.find_element(By.ID, "file").send_keys(str(image_dir / "notes.txt"))
    WebDriverWait(browser.driver, 30).until(lambda d: d.find_element(By.ID, "error").text)
    message = browser.driver.find_element(By.ID, "error").text
    assert "not an image" in message and "JPEG" in message
    assert browser.driver.find_elements(By.CSS_SELECTOR, "#results tr") == []


@pytest.mark.parametrize("bundle", ["image_bundle", "image_int8io"])
def test_int8_on_litertjs_answers_as_the_runtime(request, tmp_path, browser, bundle, image_dir):
    """tflite-int8 in the page: export's file takes the pixels themselves; the converter's (int8 edges) goes behind
    uint8 edges and the page quantises as the runtime does. Either way the same integers."""
    from edgeport.runtime.web.browser import serve_folder
    from edgeport.runtime.web.site import build_site

    image_bundle = request.getfixturevalue(bundle)
    site = build_site(image_bundle, tmp_path / "site", variant="tflite-int8")
    files = sorted(p for p in image_dir.iterdir() if p.suffix in (".png", ".jpg"))
    with serve_folder(site.path, extra={f"/_images/{p.name}": p for p in files}) as url:
        open_page(browser, url)
        page = np.array(browser.run("const m = await window.edgeport; const out = [];"
                                    "for (const u of args[0]) out.push(await m.predict(u)); return out;",
                                    [f"/_images/{p.name}" for p in files]))
    python = runtime.load(image_bundle, variant="tflite-int8", threads=1).predict([str(p) for p in files])
    grows = [Image.open(p).size[1] <= 32 for p in files]  # exact pixels (see above), so exact integers
    assert np.array_equal(page[grows], python[grows])
    assert (page.argmax(axis=1) == python.argmax(axis=1)).mean() >= 0.8


def test_a_picked_photo_shows_the_runtimes_labels(browser, image_url, image_bundle, image_dir):
    """The page itself: a file picked in the form (a Blob) is classified and every label shown, best first."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    open_page(browser, image_url)
    browser.driver.find_element(By.ID, "file").send_keys(str(image_dir / "rgb_17x9.png"))
    WebDriverWait(browser.driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#results tr"))
    rows = [r.text.split() for r in browser.driver.find_elements(By.CSS_SELECTOR, "#results tr")]
    model = runtime.load(image_bundle, variant="tflite-fp32")
    p = model.predict([str(image_dir / "rgb_17x9.png")])[0]
    expected = sorted(zip(model.labels, p), key=lambda lp: -lp[1])
    assert [(label, float(score)) for label, score in rows] == [(label, pytest.approx(float(q), abs=6e-5)) for label, q in expected]
    assert browser.driver.find_element(By.ID, "error").text == ""
    assert "ms" in browser.driver.find_element(By.ID, "timing").text
