"""Inputs a reliability probe found unrefused: a mapping given to classify, a device given as an image
file, a split pattern that backtracks exponentially."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from edgeport import runtime
from edgeport.runtime.errors import DtypeError, ImageError, ManifestError
from edgeport.runtime.preprocess import TextPreprocessor
from tests.runtime.conftest import manifest_doc, write_manifest_doc


def test_classify_refuses_a_mapping_rather_than_classifying_its_keys(text_binary):
    model = runtime.load(text_binary)
    with pytest.raises(DtypeError, match="cannot use a dict as model input"):
        model.classify({"a great film": 1})
    assert len(model.classify(["a great film"])) == 1


def test_only_regular_files_are_opened_as_images(image_bundle, tmp_path):
    model = runtime.load(image_bundle)
    started = time.perf_counter()
    with pytest.raises(ImageError, match="not a regular file"):
        model.classify("/dev/zero")
    fifo = tmp_path / "photo.png"
    os.mkfifo(fifo)
    with pytest.raises(ImageError, match="not a regular file"):
        model.predict([str(fifo)])  # no writer: a plain open() would block for ever
    assert time.perf_counter() - started < 5
    assert model.predict([np.zeros((8, 8, 3), np.uint8)]).shape[0] == 1


SPEC = {"maxlen": 5, "start_char": None, "oov_char": 1, "index_from": 0, "lowercase": False}


@pytest.mark.parametrize("pattern", [r"(?:a+)+$", r"(a|aa)+!", r"\s+|,", r"a+b"])
def test_a_split_pattern_beyond_one_character_class_is_refused(pattern):
    with pytest.raises(ManifestError, match="split_pattern must be one character class"):
        TextPreprocessor({**SPEC, "split_pattern": pattern}, {"a": 2})


@pytest.mark.parametrize("pattern,words", [(r"[^\w']+", ["wasn't", "bad"]), (r"\s+", ["wasn't", "bad!"]),
                                           (r"\W+", ["wasn", "t", "bad"]), (",", ["wasn't bad!"])])
def test_the_tokenisers_patterns_still_split(pattern, words):
    assert TextPreprocessor({**SPEC, "split_pattern": pattern}, {"a": 2}).words("wasn't bad!") == words


def test_the_probes_pattern_no_longer_hangs_predict(text_binary, copy_bundle):
    bundle = copy_bundle(text_binary)
    doc = manifest_doc(bundle)
    doc["preprocessing"]["split_pattern"] = r"(?:a+)+$"
    write_manifest_doc(bundle, doc)
    started = time.perf_counter()
    with pytest.raises(ManifestError, match="split_pattern"):
        runtime.load(bundle).predict(["a" * 40 + "!"])
    assert time.perf_counter() - started < 5
