"""A text bundle's tokenisation rules: the manifest's preprocessing fields, their defaults and their checks.

Without the fields that models from elsewhere may set (`split_pattern`, a null `oov_char`, another
`pad_char`) the rules are Keras' classic pipeline. `KERAS_FILTERS` is defined here once; training imports it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

from edgeport.runtime.errors import ManifestError

KERAS_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'  # Keras' `Tokenizer` default: each becomes a split
TEXT_DEFAULTS: dict[str, Any] = {
    "num_words": None, "skip_top": 0, "start_char": 1, "oov_char": 2, "index_from": 3, "maxlen": None,
    "padding": "pre", "truncating": "pre", "lowercase": True, "filters": KERAS_FILTERS, "split": " ",
    "pad_char": 0, "split_pattern": None,
}
# The tokenisation rules training can choose, as the manifest fields each sets. "mediapipe" is what MediaPipe's
# `RegexTokenizer` and the Task Library's NLClassifier do with the metadata export writes: split on the
# delimiter pattern (RE2's `\w` is ASCII, so the class is spelled out), keep the case, `<START>` first,
# unknown words → `<UNKNOWN>`, cut and padded at the end. "keras" is Keras' classic pipeline.
MEDIAPIPE_SPLIT = "[^0-9A-Za-z_']+"
TOKENIZERS: dict[str, dict[str, Any]] = {
    "keras": {"lowercase": True, "filters": KERAS_FILTERS, "split": " ", "split_pattern": None, "padding": "pre"},
    "mediapipe": {"lowercase": False, "split_pattern": MEDIAPIPE_SPLIT, "padding": "post", "truncating": "post"},
}

INT32_MAX = 2**31 - 1

# What tokenisers split on: one character class, class escape or plain character, optionally repeated
# (`[^\w']+`, `\s+`, `\W+`, `,`). Nothing nested, so `re` matches it in linear time: a crafted pattern
# such as `(?:a+)+$` cannot make a text take exponential time.
SPLIT_PATTERN = re.compile(r"(?:\[\^?(?:[^\\\[\]]|\\.)+\]|\\[sSwWdD]|\\[^A-Za-z0-9]|[^\\\[\](){}|*+?.^$])\+?", re.DOTALL)


@dataclass(frozen=True)
class TextSpec:
    """The checked text fields of `manifest.preprocessing` (`TEXT_DEFAULTS` where a field is absent)."""

    num_words: int | None
    skip_top: int
    start_char: int | None
    oov_char: int | None  # None: unknown words are left out
    index_from: int
    maxlen: int | None  # None: the model's sequence length
    padding: str  # "pre" or "post"
    truncating: str  # "pre" or "post"
    lowercase: bool
    filters: str
    split: str
    pad_char: int
    split_pattern: str | None  # when set, words are split on it instead of `filters` and `split`


def checked_text_spec(spec: Mapping[str, Any]) -> TextSpec:
    """A manifest's text preprocessing dict → its `TextSpec`, defaults filled in.

    Raises:
        ManifestError: a field has the wrong type or range; the message names the field.
    """
    s = {**TEXT_DEFAULTS, **spec}

    def bad(key: str, want: str) -> ManifestError:
        return ManifestError(f"manifest.preprocessing.{key} must be {want}, got {s[key]!r}; re-export the bundle")

    def integer(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    for key in ("filters", "split"):
        if not isinstance(s[key], str) or (key == "split" and not s[key]):
            raise bad(key, "a string" if key == "filters" else "a non-empty string")
    if not isinstance(s["lowercase"], bool):
        raise bad("lowercase", "true or false")
    for key, optional in (("start_char", True), ("oov_char", True), ("skip_top", False), ("index_from", False),
                          ("pad_char", False)):
        value = s[key]
        if not (value is None and optional) and not (integer(value) and 0 <= value <= INT32_MAX):
            raise bad(key, f"an integer 0..{INT32_MAX}" + (" or null" if optional else ""))
    if s["num_words"] is not None and not (integer(s["num_words"]) and 0 < s["num_words"] <= INT32_MAX):
        raise bad("num_words", f"a positive integer up to {INT32_MAX} or null")
    if s["maxlen"] is not None and not (integer(s["maxlen"]) and s["maxlen"] >= 0):
        raise bad("maxlen", "a non-negative integer or null")
    if s["split_pattern"] is not None:
        if not (isinstance(s["split_pattern"], str) and SPLIT_PATTERN.fullmatch(s["split_pattern"])):
            raise bad("split_pattern", "one character class, class escape or character, optionally followed by + "
                      "(e.g. [^\\w']+ or \\s+: what separates words, matched in linear time), or null")
        try:
            re.compile(s["split_pattern"])
        except re.error:
            raise bad("split_pattern", "a valid regular expression") from None
    for key in ("padding", "truncating"):
        if s[key] not in ("pre", "post"):
            raise ManifestError(f"manifest.preprocessing.{key} must be 'pre' or 'post', got {s[key]!r}")
    return TextSpec(**{key: s[key] for key in TEXT_DEFAULTS})
