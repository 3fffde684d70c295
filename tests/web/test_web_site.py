"""`edgeport-run web`: what the site holds, how it is written, that a copy served by `python -m http.server`
works with no other origin reachable, and `--check`'s figures and exit status."""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from edgeport.runtime.errors import EngineMissingError, UsageError
from edgeport.runtime.web.site import build_site
from tests.runtime.conftest import run_cli
from tests.web.conftest import needs_browser, open_page


def test_site_json_names_bundle_variant_engine_and_every_file(text_site, text_topics):
    doc = json.loads((text_site.path / "site.json").read_text(encoding="utf-8"))
    assert (doc["bundle"], doc["variant"], doc["engine"], doc["engine_version"]) == (
        text_topics.name, "tflite-fp32", "litert.js", "2.5.3")
    assert doc["kind"] == "text" and doc["labels"] == json.loads((text_topics / "manifest.json").read_text())["labels"]
    for name, digest in doc["files"].items():
        assert hashlib.sha256((text_site.path / name).read_bytes()).hexdigest() == digest, name
    assert {"index.html", "edgeport.js", "vocab.json", "engine/litert.js", "engine/litert_wasm_internal.wasm"} <= set(doc["files"])


def test_onnx_variant_ships_onnxruntime_web(tmp_path, text_topics):
    site = build_site(text_topics, tmp_path / "site", variant="onnx-fp32")
    assert (site.engine, site.engine_version) == ("onnxruntime-web", "1.30.0")
    assert (site.path / "engine" / "ort-wasm-simd-threaded.wasm").is_file()
    assert not (site.path / "engine" / "litert.js").exists()


def test_int8_tflite_ships_on_litertjs_with_uint8_edges(tmp_path, image_int8io):
    site = build_site(image_int8io, tmp_path / "site", variant="tflite-int8")
    assert site.engine == "litert.js"
    manifest = json.loads((image_int8io / "manifest.json").read_text(encoding="utf-8"))
    spec = next(a for a in manifest["artifacts"] if a["variant"] == "int8" and a["format"] == "tflite")["inputs"][0]
    assert spec["dtype"] == "int8"
    assert site.doc["input"]["dtype"] == "uint8" and site.doc["input"]["zero_point"] == spec["zero_point"] + 128


def test_an_int8_file_that_takes_pixels_is_fed_the_pixels(tmp_path, image_bundle):
    site = build_site(image_bundle, tmp_path / "site", variant="tflite-int8")
    assert site.doc["input"]["dtype"] == "uint8" and "scale" not in site.doc["input"]
    assert (site.doc["preprocessing"]["dtype"], site.doc["preprocessing"]["normalization"]) == ("uint8", "none")
    assert site.doc["output"]["dtype"] == "uint8" and site.doc["output"]["scale"] > 0


def test_a_folder_that_is_not_a_site_is_left_alone(tmp_path, text_topics):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(UsageError, match="not an edgeport site"):
        build_site(text_topics, tmp_path / "mine")
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["keep.txt"]


def test_rebuild_replaces_the_site_whole(tmp_path, text_topics):
    out = tmp_path / "site"
    build_site(text_topics, out, variant="onnx-fp32")
    build_site(text_topics, out, variant="tflite-fp32")
    doc = json.loads((out / "site.json").read_text(encoding="utf-8"))
    assert doc["variant"] == "tflite-fp32" and not (out / "engine" / "ort.wasm.min.mjs").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["site"]  # no temporary folder left beside it


def test_offline_build_without_the_cache_fails_before_writing(tmp_path, text_topics, monkeypatch):
    monkeypatch.setenv("EDGEPORT_NPM_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(EngineMissingError, match="not in the cache.*offline"):
        build_site(text_topics, tmp_path / "site", offline=True)
    assert not (tmp_path / "site").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@needs_browser
def test_a_copy_served_by_http_server_works_offline(tmp_path, text_site, browser):
    copy = tmp_path / "elsewhere"
    shutil.copytree(text_site.path, copy)
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "-d", str(copy)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/"
        for _ in range(100):
            try:
                urllib.request.urlopen(url, timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        open_page(browser, url)  # Chromium here resolves no host name: only loopback answers
        p = browser.run("const m = await window.edgeport; return await m.predict('a text to classify');")
        assert len(p) == len(text_site.doc["labels"]) and abs(sum(p) - 1) < 1e-4
        resources = browser.run("return performance.getEntriesByType('resource').map((e) => e.name);")
        assert resources and all(r.startswith(url) for r in resources), resources
    finally:
        server.terminate()
        server.wait(timeout=10)


@needs_browser
def test_check_prints_figures_and_exits_1_below_tolerance(tmp_path, text_topics):
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(["a good one", "bad", "ok then", "nothing at all here", "x y z"]) + "\n", encoding="utf-8")
    done = run_cli("web", text_topics, "--out", tmp_path / "site", "--check", texts, timeout=300)
    assert done.returncode == 0, done.stderr + done.stdout
    lines = dict(line.split(None, 1) for line in done.stdout.splitlines() if line.strip())
    assert lines["items"].startswith("5 (0 refused")
    assert float(lines["top-1"].split()[0]) == 1.0
    assert "page" in lines["model"] and "Python" in lines["model"]
    strict = run_cli("web", text_topics, "--out", tmp_path / "site", "--check", texts, "--min-agreement", "1.01", timeout=300)
    assert strict.returncode == 1 and "FAILED       top-1 agreement 1.0000 is below 1.01" in strict.stdout


def test_a_missing_browser_is_one_clear_error(tmp_path, monkeypatch):
    from edgeport.runtime.web.browser import find_chromium

    monkeypatch.setenv("EDGEPORT_CHROMEDRIVER", str(tmp_path / "no-driver"))
    monkeypatch.setenv("EDGEPORT_CHROMIUM", str(tmp_path / "no-chromium"))
    with pytest.raises(EngineMissingError, match="not an executable file.*make browser"):
        find_chromium()
