"""Texts → int32 token ids, as Keras' classic pipeline gives them. No TensorFlow.

`text_to_word_sequence` (lower-case, every filter character becomes the split string, split on it,
drop empty words), the `keras.datasets` id rules (`start_char` first, then the word's id when
`skip_top <= id < num_words`, else `oov_char`), then `keras.utils.pad_sequences` (`TextPreprocessor`
cuts and pads). Models from elsewhere (`edgeport-run import`) may split on a regular expression
(`split_pattern`), leave unknown words out (`oov_char` null) and pad with another id (`pad_char`);
the rules are read and checked by `preprocess.text_spec`.

Limits (`runtime.limits`): a long text is cut to the `maxlen × MAX_WORD_CHARS` characters on the side
the tokeniser keeps (more when those hold no more than `maxlen` words) before it is split, which leaves
its ids unchanged.
"""

from __future__ import annotations

import functools
import re
from typing import Any, Sequence

import numpy as np

from edgeport.runtime import limits
from edgeport.runtime.errors import DtypeError, EmptyBatchError, ManifestError
from edgeport.runtime.preprocess.text_spec import KERAS_FILTERS, TEXT_DEFAULTS, checked_text_spec


@functools.lru_cache(maxsize=32)
def _filter_table(filters: str, split: str) -> dict[int, str]:
    return str.maketrans({c: split for c in filters})


def text_to_word_sequence(text: str, filters: str = KERAS_FILTERS, lower: bool = True, split: str = " ") -> list[str]:
    """Keras' classic word splitter: filter characters become `split`, then split on `split` only."""
    if lower:
        text = text.lower()
    return list(filter(None, text.translate(_filter_table(filters, split)).split(split)))


class TextPreprocessor:
    """Strings → int32 token ids of shape (n, maxlen), as the Keras datasets and `keras.utils.pad_sequences` give them.

    `spec` is the manifest's preprocessing dict (kept, defaults filled in, as `self.spec`); its checked
    fields are `self.text_spec`."""

    def __init__(self, spec: dict[str, Any], vocabulary: dict[str, int], input_length: int | None = None):
        self.spec = {**TEXT_DEFAULTS, **spec}
        self.text_spec = s = checked_text_spec(self.spec)
        maxlen = s.maxlen if s.maxlen is not None else input_length
        if maxlen is None or (input_length is not None and maxlen != input_length):
            raise ManifestError(
                f"manifest.preprocessing.maxlen is {s.maxlen!r} but the model takes sequences of {input_length}; "
                "re-export the bundle"
            )
        self.maxlen = int(maxlen)
        self.num_words = s.num_words
        self.vocabulary = vocabulary
        low, high = s.skip_top, self.num_words
        # word → final id, for the words whose id is in range; every other word becomes oov_char
        self._ids = {w: i for w, i in vocabulary.items() if low <= i and (high is None or i < high)}
        self._pattern = re.compile(s.split_pattern) if s.split_pattern is not None else None
        self._ascii = self._ascii_plan()

    def _ascii_plan(self) -> tuple[bytes, bytes, dict[bytes, int]] | None:
        """For ASCII texts, the same split on bytes (a 256-byte translate table), far faster than on str."""
        split = self.text_spec.split
        if not (len(split) == 1 and split.isascii()):
            return None
        if self._pattern is not None or self.text_spec.oov_char is None:
            return None
        table = bytearray(range(256))
        for c in self.text_spec.filters:
            if c.isascii():  # other filter characters cannot occur in ASCII text
                table[ord(c)] = ord(split)
        return bytes(table), split.encode(), {w.encode(): i for w, i in self._ids.items() if w.isascii()}

    def words(self, text: str, lower: bool | None = None) -> list[str]:
        """The words of `text` by the spec's split rule (`lower` defaults to the spec's `lowercase`)."""
        s = self.text_spec
        lower = s.lowercase if lower is None else lower
        if self._pattern is None:
            return text_to_word_sequence(text, s.filters, lower, s.split)
        return list(filter(None, self._pattern.split(text.lower() if lower else text)))

    def token_ids(self, text: str) -> list[int]:
        """One text → its id sequence before padding (start_char first, unknown words → oov_char, or
        left out when oov_char is null)."""
        s = self.text_spec
        get, oov = self._ids.get, s.oov_char
        start = [s.start_char] if s.start_char is not None else []
        ids = [get(w, oov) for w in self.words(text)]
        return start + (ids if oov is not None else [i for i in ids if i is not None])

    def kept_ids(self, text: str) -> list[int]:
        """`token_ids(text)` already cut to `maxlen` as `truncating` says: only the words kept are looked up.
        The text is first cut to `maxlen × limits.MAX_WORD_CHARS` characters on the side kept."""
        s, maxlen = self.text_spec, self.maxlen
        if maxlen == 0:
            return []
        text = self._cut(text)
        if self._ascii is not None and text.isascii():
            table, sep, ids = self._ascii
            data = text.encode("ascii")
            words: list = self._words_near_cut((data.lower() if s.lowercase else data).translate(table), sep)
            get = ids.get
        else:
            words, get = self.words(text), self._ids.get
        start = [s.start_char] if s.start_char is not None else []
        oov = s.oov_char
        if oov is None:  # unknown words are left out: look up before cutting
            words, get = [i for i in map(get, words) if i is not None], _found
        if len(start) + len(words) > maxlen:
            if s.truncating == "pre":
                start, words = [], words[-maxlen:]
            else:
                words = words[: maxlen - len(start)]
        return start + [get(w, oov) for w in words]

    def _cut(self, text: str) -> str:
        """The end of `text` that `truncating` keeps, `maxlen × limits.MAX_WORD_CHARS` characters long, when
        it holds more than `maxlen` words (so a word cut in two at its edge is never kept); else 4× as
        much, and so on: the ids are those of the whole text, found without splitting all of it. Where
        unknown words are left out (`oov_char` null), only the words of the vocabulary count."""
        bound, pre = self.maxlen * limits.MAX_WORD_CHARS, self.text_spec.truncating == "pre"
        dropping = self.text_spec.oov_char is None
        while len(text) > bound:
            part = text[-bound:] if pre else text[:bound]
            words = self.words(part, lower=None if dropping else False)
            if (sum(w in self._ids for w in words) if dropping else len(words)) > self.maxlen:
                return part
            bound *= 4
        return text

    def _words_near_cut(self, data: bytes, sep: bytes) -> list[bytes]:
        """The non-empty words of `data`, or, when it holds at least `maxlen` of them, only those on the side
        `truncating` keeps (at least `maxlen`, in order): a long review is not split word by word."""
        n, pre = self.maxlen + self.maxlen // 2 + 2, self.text_spec.truncating == "pre"  # slack for empty words
        parts = data.rsplit(sep, n) if pre else data.split(sep, n)
        if len(parts) <= n:  # split completely
            return list(filter(None, parts))
        near = list(filter(None, parts[1:] if pre else parts[:-1]))
        return near if len(near) >= self.maxlen else list(filter(None, data.split(sep)))

    def __call__(self, items: Sequence[Any]) -> np.ndarray:
        if not len(items):
            raise EmptyBatchError("the batch is empty: pass at least one text")
        sequences = [self.kept_ids(_as_text(item, i)) for i, item in enumerate(items)]
        maxlen, pad = self.maxlen, [self.text_spec.pad_char]  # each sequence is already cut to maxlen: only padding is left
        if self.text_spec.padding == "pre":
            return np.array([pad * (maxlen - len(seq)) + seq for seq in sequences], dtype=np.int32).reshape(-1, maxlen)
        return np.array([seq + pad * (maxlen - len(seq)) for seq in sequences], dtype=np.int32).reshape(-1, maxlen)


def _found(token_id: int, _default: Any) -> int:
    return token_id  # the lookup of a word already looked up


def _as_text(item: Any, position: int) -> str:
    if isinstance(item, bytes):
        try:
            return item.decode("utf-8")
        except UnicodeDecodeError:
            raise DtypeError(f"item {position} is bytes that are not UTF-8 text; pass str") from None
    if not isinstance(item, str):
        raise DtypeError(f"item {position} is a {type(item).__name__}; this text model takes strings")
    return item
