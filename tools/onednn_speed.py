"""TensorFlow with oneDNN's kernels off and on, side by side: the same training and inference work in fresh
processes, alternating, medians over repeats. Decides whether edgeport should leave TensorFlow's default
(on with AVX-512) alone.

    .venv/bin/python tools/onednn_speed.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

WORK = r'''
import json, time
import numpy as np
import keras
rng = np.random.default_rng(0)
x = rng.integers(1, 10000, size=(5000, 20)); y = rng.integers(0, 2, size=5000)
text = keras.Sequential([keras.Input((20,)), keras.layers.Embedding(10000, 8), keras.layers.Flatten(),
                         keras.layers.Dense(1, activation="sigmoid")])
text.compile("rmsprop", "binary_crossentropy")
text.fit(x[:64], y[:64], epochs=1, verbose=0)
start = time.perf_counter(); text.fit(x, y, epochs=3, batch_size=32, verbose=0); fit_text = time.perf_counter() - start
image = keras.applications.MobileNet(alpha=0.25, weights=None, input_shape=(224, 224, 3))
batch = rng.random((16, 224, 224, 3), dtype=np.float32)
image.predict(batch, verbose=0)
start = time.perf_counter()
for _ in range(5):
    image.predict(batch, verbose=0)
predict_image = (time.perf_counter() - start) / 5
image.compile("adam", "categorical_crossentropy")
labels = keras.utils.to_categorical(rng.integers(0, 1000, 16), 1000)
image.fit(batch, labels, epochs=1, verbose=0)
start = time.perf_counter(); image.fit(np.repeat(batch, 4, 0), np.repeat(labels, 4, 0), epochs=2, batch_size=16, verbose=0)
fit_image = time.perf_counter() - start
print(json.dumps({"fit_text_s": fit_text, "predict_image_s": predict_image, "fit_image_s": fit_image}))
'''


def run(onednn: str) -> dict[str, float]:
    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS=onednn, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, "-c", WORK], env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, list[dict[str, float]]] = {"0": [], "1": []}
    for _ in range(args.repeats):
        for onednn in ("0", "1"):
            results[onednn].append(run(onednn))
    for measure in results["0"][0]:
        off = statistics.median(r[measure] for r in results["0"])
        on = statistics.median(r[measure] for r in results["1"])
        print(f"{measure:<16} oneDNN off {off:8.3f}  on {on:8.3f}  on/off {on / off:.2f}")


if __name__ == "__main__":
    main()
