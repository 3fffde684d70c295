"""Headless Chromium on a site: a local static server (optionally cross-origin isolated, for WebAssembly
threads) and selenium driving Debian's `chromium` through its `chromedriver`.

Selenium's driver manager is never asked for anything: the driver's path is given and `SE_AVOID_STATS` is set,
so nothing leaves the machine.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import tempfile
import threading
import contextlib
from pathlib import Path
from typing import Any, Iterator, Sequence

from edgeport.runtime.errors import EngineMissingError

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage",
                  "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1")  # no name resolves: nothing but loopback
ISOLATION_HEADERS = {"Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp"}
MIME_TYPES = {".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm", ".json": "application/json",
              ".tflite": "application/octet-stream", ".onnx": "application/octet-stream"}


class _Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, **MIME_TYPES}

    def __init__(self, *args: Any, headers: dict[str, str], extra: dict[str, Path], **kwargs: Any):
        self._headers, self._extra = headers, extra
        super().__init__(*args, **kwargs)

    def translate_path(self, path: str) -> str:
        name = path.split("?", 1)[0]
        if name in self._extra:  # the inputs of a check, at their own URLs
            return str(self._extra[name])
        return super().translate_path(path)

    def end_headers(self) -> None:
        for key, value in self._headers.items():
            self.send_header(key, value)
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 — the base class's name
        pass


@contextlib.contextmanager
def serve_folder(folder: str | Path, isolated: bool = False, extra: dict[str, Path] | None = None) -> Iterator[str]:
    """Serve `folder` on 127.0.0.1 (a free port) while the block runs; yields the base URL. `isolated` sends
    COOP/COEP (WebAssembly threads need them); `extra` maps URL paths to other files (a check's inputs)."""
    handler = functools.partial(_Handler, directory=str(folder), headers=ISOLATION_HEADERS if isolated else {},
                                extra=extra or {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def find_chromium() -> tuple[str, str]:
    """(chromium, chromedriver) paths; a clear error naming the fix when either is missing."""
    chromium = os.environ.get("EDGEPORT_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    driver = os.environ.get("EDGEPORT_CHROMEDRIVER") or shutil.which("chromedriver")
    if not chromium or not driver:
        raise EngineMissingError("the browser check needs Chromium and its driver: `make browser` (apt-get install "
                                 "chromium chromium-driver), or set EDGEPORT_CHROMIUM and EDGEPORT_CHROMEDRIVER")
    for name, path in (("EDGEPORT_CHROMIUM", chromium), ("EDGEPORT_CHROMEDRIVER", driver)):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            raise EngineMissingError(f"{path} is not an executable file; fix {name} or install Chromium (make browser)")
    return chromium, driver


class Browser:
    """One headless Chromium session (a fresh profile); `run(script, *args)` runs an async script."""

    def __init__(self, timeout_s: float = 120.0):
        try:
            from selenium import webdriver
            from selenium.webdriver.chrome.service import Service
        except ImportError:
            raise EngineMissingError("the browser check needs selenium: pip install 'edgeport[web]'") from None
        chromium, driver = find_chromium()
        os.environ["SE_AVOID_STATS"] = "true"
        self._profile = tempfile.mkdtemp(prefix="edgeport-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={self._profile}"):
            options.add_argument(flag)
        from selenium.common.exceptions import WebDriverException

        try:
            self.driver = webdriver.Chrome(options=options, service=Service(executable_path=driver))
        except WebDriverException as exc:
            shutil.rmtree(self._profile, ignore_errors=True)
            why = (exc.msg or str(exc)).strip().splitlines()[0]
            raise EngineMissingError(f"headless Chromium ({chromium}, driver {driver}) did not start: {why}; "
                                     "check that chromium and chromium-driver are the same version (make browser)") from None
        self.driver.set_script_timeout(timeout_s)

    def open(self, url: str) -> None:
        self.driver.get(url)

    def run(self, script: str, *args: Any) -> Any:
        """Run `script` as the body of an async function of `args` (its value is returned)."""
        wrapped = ("const done = arguments[arguments.length - 1];"
                   f"(async (...args) => {{ {script} }})(...Array.from(arguments).slice(0, -1))"
                   ".then(done, (e) => done({__error: String(e && e.message || e)}));")
        result = self.driver.execute_async_script(wrapped, *args)
        if isinstance(result, dict) and "__error" in result:
            raise RuntimeError(f"in the page: {result['__error']}")
        return result

    def close(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


PREDICT_SCRIPT = """
const [items, isUrl] = args;
const model = await window.edgeport;
const out = [];
for (const item of items) {
  try {
    const probabilities = await model.predict(item);
    out.push({probabilities, timing: model.lastTiming});
  } catch (err) {
    out.push({error: err.message});
  }
}
return {results: out, threads: model.threads, crossOriginIsolated: self.crossOriginIsolated};
"""


def predict_in_page(browser: Browser, items: Sequence[str], chunk: int = 50) -> dict[str, Any]:
    """Each item (a text, or a same-origin image URL) through the page's `predict`, in chunks."""
    results: list[dict] = []
    info: dict[str, Any] = {}
    for start in range(0, len(items), chunk):
        info = browser.run(PREDICT_SCRIPT, list(items[start:start + chunk]), False)
        results += info["results"]
    return {**info, "results": results}
