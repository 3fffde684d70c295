"""The page at GET /, in a real browser: headless Chromium (Debian's chromium and chromium-driver) driven by
selenium types or uploads, and the test reads the answer from the page. Skips when Chromium or selenium is
not installed (`make browser`; selenium is in the web extra).

EDGEPORT_SERVE_SCREENSHOT=FILE also saves a screenshot of the text page with its answer."""

from __future__ import annotations

import importlib.util
import os
import shutil
import time
from pathlib import Path

import pytest

from tests.serve.conftest import require_serve

require_serve()  # before anything that imports the serve extra

from edgeport import runtime  # noqa: E402

HAS_BROWSER = bool(shutil.which("chromium") and shutil.which("chromedriver") and importlib.util.find_spec("selenium"))
pytestmark = pytest.mark.skipif(not HAS_BROWSER, reason="needs chromium, chromedriver (make browser) and selenium "
                                "(the web extra)")


class Browser:
    """The few page actions these tests need, on selenium's driver."""

    def __init__(self, driver):
        self.driver = driver

    def open(self, url: str) -> None:
        self.driver.get(url)

    def _find(self, css: str):
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, css)

    def type(self, css: str, text: str) -> None:
        """Type into a text field, or give a file input the path of a file."""
        self._find(css).send_keys(text)

    def click(self, css: str) -> None:
        self._find(css).click()

    def text(self, css: str) -> str:
        return self._find(css).text

    def wait_text(self, css: str, ignore: tuple[str, ...] = ("", "…"), timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.text(css)
            if text not in ignore:
                return text
            time.sleep(0.05)
        raise AssertionError(f"{css} still reads {self.text(css)!r} after {timeout} s")

    def bars(self) -> dict[str, float]:
        """label → probability, as the page shows them."""
        from selenium.webdriver.common.by import By

        return {row.get_attribute("data-label"): float(row.text.split()[-1])
                for row in self.driver.find_elements(By.CSS_SELECTOR, ".bar")}

    def screenshot(self) -> bytes:
        return self.driver.get_screenshot_as_png()


@pytest.fixture
def browser():
    from edgeport.runtime.web.browser import Browser as Chromium

    with Chromium() as chromium:
        chromium.driver.set_window_size(900, 640)
        yield Browser(chromium.driver)


def bars(browser: Browser) -> dict[str, float]:
    return browser.bars()


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
