"""What training reads and what it trains on: the user's files, and a task's model-ready data."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeport.train import texts
from edgeport.train.images import ImageFiles


@dataclass(frozen=True)
class UserData:
    """The user's own files: `--data PATH [--test PATH]` (texts: which columns hold text and label)."""

    train: Path
    test: Path | None = None
    columns: texts.TextColumns = texts.TextColumns()


@dataclass
class TaskData:
    """Model-ready inputs (arrays, or image files decoded as they stream) plus what the bundle needs to
    preprocess raw input the same way."""

    x_train: np.ndarray | ImageFiles
    y_train: np.ndarray
    x_test: np.ndarray | ImageFiles
    y_test: np.ndarray  # class indices
    labels: list[str]
    preprocessing: dict[str, Any]
    vocabulary: dict[str, int] | None = None
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
