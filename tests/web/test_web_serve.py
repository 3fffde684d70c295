"""`edgeport-run serve BUNDLE --site DIR`: the site at /web/, cross-origin isolated, so the page in Chromium
runs the engine on WebAssembly threads and answers as the service's own API does."""

from __future__ import annotations

import pytest

from tests.serve.conftest import require_serve

require_serve(test_client=True)  # before anything that imports the serve extra

from edgeport.runtime.errors import UsageError  # noqa: E402
from tests.serve.conftest import server_for, started  # noqa: E402, F401 — fixture
from tests.web.conftest import needs_browser, open_page  # noqa: E402


def test_site_is_served_at_web_with_isolation_headers(text_site, text_topics):
    with started(text_topics, site=str(text_site.path)) as (client, _):
        page = client.get("/web/")
        assert page.status_code == 200 and "edgeport.js" in page.text
        assert page.headers["cross-origin-opener-policy"] == "same-origin"
        assert page.headers["cross-origin-embedder-policy"] == "require-corp"
        wasm = client.get("/web/engine/litert_wasm_internal.wasm")
        assert wasm.headers["content-type"] == "application/wasm"
        assert wasm.content == (text_site.path / "engine" / "litert_wasm_internal.wasm").read_bytes()
        assert client.get("/web/site.json").json()["variant"] == "tflite-fp32"
        assert "cross-origin-opener-policy" not in client.get("/v1/info").headers  # the API is as it was


def test_a_folder_that_is_not_a_site_is_refused(tmp_path, text_topics):
    from edgeport.runtime.serve.site import site_mount

    with pytest.raises(UsageError, match="not a site.*edgeport-run web"):
        site_mount(tmp_path)


@needs_browser
def test_page_under_serve_uses_threads_and_agrees_with_the_api(browser, server_for, text_site, text_topics):  # noqa: F811
    server = server_for(text_topics, "--site", str(text_site.path))
    open_page(browser, server.url + "/web/")
    texts = ["a good one", "nothing to see", "x"]
    got = browser.run("const m = await window.edgeport; const out = [];"
                      "for (const t of args[0]) out.push(await m.predict(t));"
                      "return {out, threads: m.threads, isolated: self.crossOriginIsolated};", texts)
    assert got["isolated"] is True and got["threads"] >= 1
    api = browser.run("const r = await fetch('/v1/predict', {method: 'POST', headers: {'content-type': 'application/json'},"
                      "body: JSON.stringify({inputs: args[0]})}); return await r.json();", texts)
    labels = text_site.doc["labels"]
    for page_p, answer in zip(got["out"], api["predictions"]):
        assert page_p == pytest.approx([answer["probabilities"][label] for label in labels], abs=1e-4)
