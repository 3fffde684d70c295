"""The export stage's own error."""

from __future__ import annotations

from edgeport.runtime.errors import EdgeportError


class ExportError(EdgeportError):
    """The export cannot start: a missing or unreadable model, task file, samples or data."""
