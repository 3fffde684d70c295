"""Argument types the `edgeport-run` subcommands share: each parses one value or says what it expected."""

from __future__ import annotations

import argparse
from typing import Any, Callable


def positive(kind: type) -> Callable[[str], Any]:
    """A parser of `kind` values: integers of at least 1, or numbers of at least 0 for `float`."""
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or value < (1 if kind is int else 0):
            raise argparse.ArgumentTypeError(f"expected a {'positive integer' if kind is int else 'number >= 0'}, "
                                             f"got {text!r}")
        return value
    return parse
