"""Fixtures for the browser target: the runtime tests' small bundles as sites, served on loopback, and one
headless Chromium for the whole session (`make test-web` installs Chromium where it is missing)."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import Iterator

import pytest

from edgeport.runtime.web.site import Site, build_site
from tests.runtime.conftest import image_bundle, image_int8io, models_dir, text_binary, text_topics  # noqa: F401 — fixtures

HAS_BROWSER = bool(shutil.which("chromium") and shutil.which("chromedriver")
                   and importlib.util.find_spec("selenium") is not None)
needs_browser = pytest.mark.skipif(not HAS_BROWSER, reason="needs chromium, chromium-driver and selenium (make test-web)")


@pytest.fixture(scope="session")
def browser() -> Iterator:
    if not HAS_BROWSER:
        pytest.skip("needs chromium, chromium-driver and selenium (make test-web)")
    from edgeport.runtime.web.browser import Browser

    with Browser() as b:
        yield b


@pytest.fixture(scope="session")
def text_site(tmp_path_factory: pytest.TempPathFactory, text_topics: Path) -> Site:  # noqa: F811
    return build_site(text_topics, tmp_path_factory.mktemp("sites") / "text")


@pytest.fixture(scope="session")
def image_site(tmp_path_factory: pytest.TempPathFactory, image_bundle: Path) -> Site:  # noqa: F811
    return build_site(image_bundle, tmp_path_factory.mktemp("sites") / "image")


@pytest.fixture(scope="session")
def text_url(text_site: Site) -> Iterator[str]:
    from edgeport.runtime.web.browser import serve_folder

    with serve_folder(text_site.path) as url:
        yield url


@pytest.fixture(scope="session")
def image_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Images the image tests serve beside the site: made here, of awkward sizes and modes."""
    from tests.web.images import write_test_images

    return write_test_images(tmp_path_factory.mktemp("images"))


@pytest.fixture(scope="session")
def image_url(image_site: Site, image_dir: Path) -> Iterator[str]:
    from edgeport.runtime.web.browser import serve_folder

    extra = {f"/_images/{p.name}": p for p in image_dir.iterdir()}
    with serve_folder(image_site.path, extra=extra) as url:
        yield url


def open_page(browser, url: str) -> None:
    """Open the site's page and wait for its model."""
    browser.open(url + "index.html")
    browser.run("await window.edgeport; return 1;")
