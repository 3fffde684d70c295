"""The preprocessor a bundle's manifest asks for, its vocabulary read (and verified) from the bundle."""

from __future__ import annotations

import os
from typing import Any, Callable, Sequence

import numpy as np

from edgeport.runtime.errors import ManifestError
from edgeport.runtime.manifest import resolve_bundle_path
from edgeport.runtime.preprocess.image import ImagePreprocessor
from edgeport.runtime.preprocess.text import TextPreprocessor
from edgeport.runtime.preprocess.vocabulary import load_vocabulary, vocabulary_from_bytes

Preprocessor = Callable[[Sequence[Any]], np.ndarray]
ReadFile = Callable[[str, str], bytes]  # (path relative to the bundle, what it is for) → verified bytes


def make_preprocessor(kind: str, spec: dict[str, Any], bundle_dir: str | os.PathLike,
                      input_shape: Sequence[int | None] | None, read: ReadFile | None = None) -> Preprocessor:
    """The preprocessor a bundle's manifest asks for; checks the spec against the model's input.
    `read(relative_path, purpose)` gives a file's verified bytes (`runtime.load` passes one that checks
    the manifest's `files`); without it the file is read from the bundle directory unverified."""
    declared = spec.get("type", kind)
    if declared != kind:
        raise ManifestError(f"manifest.preprocessing.type is {declared!r} but the task kind is {kind!r}")
    if kind == "text":
        vocab_file = spec.get("vocabulary")
        if not isinstance(vocab_file, str):
            raise ManifestError("manifest.preprocessing.vocabulary must name the vocabulary file (vocab.json)")
        where = "manifest.preprocessing.vocabulary"
        if read is None:
            vocab = load_vocabulary(resolve_bundle_path(bundle_dir, vocab_file, where))
        else:
            vocab = vocabulary_from_bytes(read(vocab_file, where), vocab_file)
        length = input_shape[1] if input_shape is not None and len(input_shape) == 2 else None
        return TextPreprocessor(spec, vocab, length)
    return ImagePreprocessor(spec, input_shape)
