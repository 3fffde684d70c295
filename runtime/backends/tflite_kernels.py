"""Which kernels of a TFLite engine run a model: its optimised ones, or its reference ones for a model
on which the optimised ones are known to crash.

tflite-runtime 2.14 (its last release) built for Arm, both its aarch64 and its armv7l wheel, kills the
process (SIGSEGV in `invoke`) on an int8 FULLY_CONNECTED without a bias whose weights take fewer than 8
inputs and give more than one output: a `Dense(4)` after a `GlobalAveragePooling2D` of 6 channels whose
bias is still all zeros (the converter drops a zero bias), as an untrained or bias-free classifier head has.
Measured under QEMU user emulation of a Cortex-A72 and a Cortex-A15, with and without the XNNPACK
delegate: 1, 2, 3, 4, 6 and 7 inputs with 2 to 256 outputs crash; 8, 9, 10, 12, 15, 16 and 17 inputs, one
output, or a bias, run. The rule below takes every depth under 8 (5, untested, with its neighbours). The
engine's reference kernels run every one of them; its x86-64 wheel and LiteRT on Arm run them on their
optimised kernels. Not measured on a board.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

SHORT_DEPTH = 8  # a bias-free int8 FULLY_CONNECTED taking fewer inputs than this crashes the engine there
ARM = ("arm64", "arm32")


def optimized_kernels_crash(engine: str, arch: str, ops: Iterable[dict[str, Any]],
                            tensors: Iterable[dict[str, Any]]) -> bool:
    """Whether `engine`, built for `arch` ("arm64", "arm32", "x86"), crashes on a model of these
    operators and tensors (an interpreter's `_get_ops_details()` and `get_tensor_details()`)."""
    if engine != "tflite-runtime" or arch not in ARM:
        return False
    by_index = {int(t["index"]): t for t in tensors}
    for op in ops:
        inputs = [int(i) for i in op["inputs"]]
        if op["op_name"] != "FULLY_CONNECTED" or len(inputs) < 2 or (len(inputs) > 2 and inputs[2] >= 0):
            continue  # not a FULLY_CONNECTED, or one with a bias
        activations, weights = by_index.get(inputs[0]), by_index.get(inputs[1])
        if activations is None or weights is None or len(weights["shape"]) != 2:
            continue
        units, depth = (int(d) for d in weights["shape"])
        int8 = np.dtype(activations["dtype"]) == np.int8 and np.dtype(weights["dtype"]) == np.int8
        if int8 and depth < SHORT_DEPTH and units > 1:
            return True
    return False
