"""The runtime's onnxruntime session against a default one on the same int8 file, side by side: medians of
interleaved single-image calls, 1 thread. On a VNNI CPU the runtime leaves precision mode off, so the two
should match; `EDGEPORT_ORT_INT8_PRECISION=1` shows what precision mode costs.

    .venv/bin/python tools/ort_int8_kernel.py artifacts/pets/model.static-int8.onnx [--rounds 400]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import onnxruntime as ort

from edgeport import runtime
from edgeport.runtime.cpu import onnx_int8_kernel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="an .onnx int8 file")
    parser.add_argument("--rounds", type=int, default=400)
    args = parser.parse_args()
    model = runtime.load(args.model, threads=1)
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    plain = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
    feed = plain.get_inputs()[0]
    x = np.random.default_rng(0).random((1, *feed.shape[1:]), dtype=np.float32)
    assert np.array_equal(model.predict_tensor(x), plain.run(None, {feed.name: x})[0]), "the two sessions differ"
    times: dict[str, list[float]] = {"runtime": [], "default": []}
    calls = {"runtime": lambda: model.predict_tensor(x), "default": lambda: plain.run(None, {feed.name: x})}
    for _ in range(10):
        for call in calls.values():
            call()
    for _ in range(args.rounds):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(t) * 1e3 for name, t in times.items()}
    ratio = statistics.median(a / b for a, b in zip(times["runtime"], times["default"]))
    print(f"int8 kernel: {onnx_int8_kernel()}")
    print(f"runtime {medians['runtime']:.3f} ms, default session {medians['default']:.3f} ms (medians of {args.rounds}); "
          f"ratio of medians {medians['runtime'] / medians['default']:.3f}, median of per-round ratios {ratio:.3f}")


if __name__ == "__main__":
    main()
