"""The page's tokeniser (edgeport.js) against the device runtime's, on the same strings, in headless Chromium."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgeport import runtime
from tests.web.conftest import needs_browser, open_page

pytestmark = needs_browser

TOKENS_SCRIPT = ("const m = await window.edgeport; const out = [];"
                 "for (const t of args[0]) out.push(Array.from(await m.input(t))); return out;")
CASES = [
    "", " ", "a great film", "A GREAT Film!!!", "great...film,,, ok?!", "don't can't won't", "'quoted' words'",
    "tabs\tand\nnewlines\r\nhere", "non\u00a0breaking\u2028separators", "caf\u00e9 na\u00efve \u00c9COLE", "\u0130stanbul",
    "\u03a3\u0391\u03a3 \u039f\u0394\u039f\u03a3", "stra\u00dfe STRASSE", "emoji \U0001F600 words \U0001F44D\U0001F3FD",
    "\u4e2d\u6587 \u65e5\u672c\u8a9e", "constructor __proto__ toString hasOwnProperty", "x" * 5000,
    " ".join(["word"] * 3000), "-" * 200, "a-b_c.d/e", "\u0000\u0001 control",
]


def python_ids(bundle, texts):
    return runtime.load(bundle, variant="tflite-fp32").preprocess(list(texts)).tolist()


def vocabulary_words(bundle) -> list[str]:
    return sorted(json.loads((bundle / "vocab.json").read_text(encoding="utf-8")))[:200]


def test_named_cases_match_the_runtime(browser, text_url, text_topics):
    open_page(browser, text_url)
    words = vocabulary_words(text_topics)
    texts = CASES + [" ".join(words[:40]), "! ".join(w.upper() for w in words[:30]), " ".join(words * 3)]
    assert browser.run(TOKENS_SCRIPT, texts) == python_ids(text_topics, texts)


def test_generated_strings_match_the_runtime(browser, text_url, text_topics):
    open_page(browser, text_url)
    words = vocabulary_words(text_topics)
    piece = st.one_of(
        st.sampled_from(words), st.sampled_from(words).map(str.upper), st.sampled_from(words).map(str.title),
        st.text(st.sampled_from(list("!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n '\r\u00a0\u3000")), min_size=1, max_size=4),
        st.text(st.characters(exclude_categories=("Cs", "Cn")), max_size=6),  # Unicode assigned in both versions
    )
    text = st.lists(piece, max_size=40).map(" ".join) | st.lists(piece, max_size=20).map("".join)

    @settings(max_examples=100, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(st.lists(text, min_size=1, max_size=25))
    def same_ids(texts):
        assert browser.run(TOKENS_SCRIPT, texts) == python_ids(text_topics, texts)

    same_ids()


def test_text_probabilities_match(browser, text_url, text_topics):
    open_page(browser, text_url)
    words = vocabulary_words(text_topics)
    rng = np.random.default_rng(3)
    texts = [" ".join(rng.choice(words, size=rng.integers(1, 30))) for _ in range(60)] + CASES[:8]
    page = np.array(browser.run("const m = await window.edgeport; const out = [];"
                                "for (const t of args[0]) out.push(await m.predict(t)); return out;", texts))
    python = runtime.load(text_topics, variant="tflite-fp32", threads=1).predict(texts)
    assert page.shape == python.shape
    assert np.abs(page - python).max() <= 1e-4
    assert (page.argmax(axis=1) == python.argmax(axis=1)).all()
    assert np.allclose(page.sum(axis=1), 1.0, atol=1e-4)
