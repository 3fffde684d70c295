"""What a caller passes as model input → a list of raw items (texts or images) for a preprocessor."""

from __future__ import annotations

import os
from typing import Any, Iterable, Mapping

import numpy as np

from edgeport.runtime.errors import DtypeError


def as_items(raw: Any, kind: str) -> list[Any]:
    """One raw item or a sequence of them → a list (a str, path, PIL image or 3-D array is one item)."""
    if type(raw) is list:
        return list(raw)
    if isinstance(raw, Mapping):  # iterating a dict would classify its keys
        raise DtypeError(f"cannot use a {type(raw).__name__} as model input: pass a list of items "
                         "(for named tensors, use predict_tensor or run)")
    if isinstance(raw, (str, bytes, os.PathLike)):
        return [raw]
    if isinstance(raw, np.ndarray):
        return [raw] if (kind == "image" and raw.ndim == 3) or raw.ndim == 0 else list(raw)
    if kind == "image" and hasattr(raw, "getbands"):  # a PIL image
        return [raw]
    if not isinstance(raw, Iterable):
        raise DtypeError(f"cannot use a {type(raw).__name__} as model input: pass a list of items")
    return list(raw)

