"""The page at GET /, in a real browser: headless Chromium (Debian's chromium and chromium-driver) types
or uploads, and the test reads the answer from the page. Skips when Chromium is not installed.

EDGEPORT_SERVE_SCREENSHOT=FILE also saves a screenshot of the text page with its answer."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.serve.conftest import require_serve

require_serve()  # before anything that imports the serve extra

from edgeport import runtime  # noqa: E402
from tests.serve.conftest import free_port  # noqa: E402
from tests.serve.webdriver import Browser, find_browser  # noqa: E402

BROWSER = find_browser()
pytestmark = pytest.mark.skipif(BROWSER is None, reason="needs chromium and chromedriver "
                                "(apt-get install chromium chromium-driver)")


@pytest.fixture
def browser():
    with Browser(*BROWSER, port=free_port()) as b:
        yield b


def bars(browser: Browser) -> dict[str, float]:
    """label → probability, as the page shows them."""
    shown = {}
    for row in browser.find_all(".bar"):
        label, number = browser.attribute(row, "data-label"), browser.text(row).split()[-1]
        shown[label] = float(number)
    return shown


def test_page_classifies_typed_text(server_for, browser: Browser, text_topics: Path):
    server = server_for(text_topics, "--variant", "tflite-fp32")
    text = "Oil barrels: crude exports rose"
    browser.open(server.url + "/")
    browser.type("#text", text)
    browser.click("#go")
    shown = browser.wait_text("#label")
    model = runtime.load(text_topics, variant="tflite-fp32")
    (label, score), = model.classify([text])
    assert shown == f"{label} ({score:.3f})"
    probabilities = model.predict([text])[0]
    assert bars(browser) == pytest.approx(dict(zip(model.labels, probabilities.round(3).tolist())), abs=1e-3)
    assert browser.text("#error") == ""
    if os.environ.get("EDGEPORT_SERVE_SCREENSHOT"):
        Path(os.environ["EDGEPORT_SERVE_SCREENSHOT"]).write_bytes(browser.screenshot())


def test_page_classifies_an_uploaded_image(server_for, browser: Browser, image_bundle: Path, models_dir: Path):
    server = server_for(image_bundle, "--variant", "tflite-int8")
    photo = next(p for p in sorted((models_dir / "images").iterdir()) if p.name.startswith("dog"))
    browser.open(server.url + "/")
    browser.type("#file", str(photo))
    browser.click("#go")
    shown = browser.wait_text("#label")
    (label, score), = runtime.load(image_bundle, variant="tflite-int8").classify([photo])
    assert label == "dogs" and shown == f"{label} ({score:.3f})"
    assert set(bars(browser)) == {"cats", "dogs", "horses"}


def test_page_shows_the_error_the_server_gives(server_for, browser: Browser, text_binary: Path):
    server = server_for(text_binary, "--api-key", "k3y")
    browser.open(server.url + "/")
    browser.type("#text", "a great film")
    browser.click("#go")
    error = browser.wait_text("#error")
    assert error.startswith("401 Unauthorized") and "API key" in error
    browser.type("#key", "k3y")
    browser.click("#go")
    assert browser.wait_text("#label").split()[0] in runtime.load(text_binary).labels
