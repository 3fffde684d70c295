"""Helpers the format converters share: silencing their chatter, naming which graph nodes belong to a
Keras layer."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator


@contextlib.contextmanager
def quiet(enabled: bool = True) -> Iterator[None]:
    """Silence stdout/stderr at the file-descriptor level (TensorFlow's C++ logs and converter prints).

    Exceptions still propagate with their messages; only the chatter is dropped.
    """
    if not enabled:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(os.devnull, "w") as devnull:
        try:
            os.dup2(devnull.fileno(), 1)
            os.dup2(devnull.fileno(), 2)
            with contextlib.redirect_stdout(devnull), contextlib.redirect_stderr(devnull):
                yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def layer_matches(name: str, layers: tuple[str, ...]) -> bool:
    """Whether the graph name `name` (`model/conv_pw_13_1/convolution`, `...;model/conv_pw_13_relu_1/Relu6`)
    belongs to one of the Keras `layers` (whole names: `conv_pw_1` does not match `conv_pw_13`)."""
    return any(f"/{layer}_" in name or f"/{layer}/" in name for layer in layers)
