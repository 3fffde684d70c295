"""`runtime.load` and the `Model` it returns: raw input or tensors in, probabilities out.

Which variant `load(bundle)` picks, and how a bundle's files are verified: `runtime.loading`.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from edgeport.runtime import backends, limits, tensors
from edgeport.runtime.backends.onnx_external import external_tensors
from edgeport.runtime.errors import InferenceError, ManifestError, MissingBundleError, ModelFileError, UsageError
from edgeport.runtime.loading import ATTEMPTS, load_bundle, wait_for_swap
from edgeport.runtime.manifest import Artifact, Manifest, TensorSpec
from edgeport.runtime.pixel_table import PixelTable, nearest_pixels, pixel_table, takes_pixels
from edgeport.runtime.preprocess import ImagePreprocessor, Preprocessor, as_items
from edgeport.runtime.quant import from_engine, is_quantized

SUFFIXES = {".tflite": "tflite", ".onnx": "onnx", ".ort": "onnx"}  # .ort: ONNX Runtime Mobile's format
MAX_DEFAULT_THREADS = 4


def default_threads() -> int:
    """All CPUs, at most 4 (a Raspberry Pi's count; more rarely helps models this small)."""
    return max(1, min(MAX_DEFAULT_THREADS, os.cpu_count() or 1))


def load(path: str | os.PathLike, variant: str | None = None, threads: int | None = None,
         backend: str | None = None, trusted_root: str | os.PathLike | None = None) -> "Model":
    """Load a bundle directory (`variant` picks the artifact, e.g. "tflite-int8") or a bare
    `.tflite`/`.onnx` file (tensor input only). The file's size and sha256 are checked against the
    manifest before the engine sees a byte, and the engine's tensors against the manifest's after.
    `backend` forces an engine ("litert", "tflite-runtime",
    "tf-lite", "onnxruntime"); `threads` sets the engine's thread count. With `trusted_root` (a fleet
    device's root.json or its metadata folder, see `edgeport.runtime.fleet.trust`) a bundle whose
    manifest no signed targets metadata names is refused with `TrustError`."""
    if threads is None:
        threads = default_threads()
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise UsageError(f"threads must be a positive integer, got {threads!r}")
    backend = backends.canonical(backend)
    path = Path(path)
    for _ in range(ATTEMPTS):
        if path.is_dir():
            return load_bundle(path, variant, threads, backend, trusted_root, Model)
        if (path.exists() or not wait_for_swap(path)) and not path.is_dir():
            break  # a file, or nothing at all; a directory again (a swap just ended) is tried again
    if not path.exists():
        raise MissingBundleError(f"{path} does not exist: pass a bundle directory (with manifest.json) or a .tflite/.onnx file")
    fmt = SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise ModelFileError(f"{path.name} is not a .tflite or .onnx file (nor a bundle directory); export it first")
    if variant is not None or trusted_root is not None:
        option = f"variant={variant!r}" if variant is not None else "trusted_root"
        raise UsageError(f"{option} needs a bundle directory; {path} is a single model file")
    data = path.read_bytes()
    if not data:
        raise ModelFileError(f"{path} is empty (0 bytes); re-export or re-copy the model")
    if fmt == "onnx" and external_tensors(data, path.name):
        raise ModelFileError(f"{path.name} keeps weights in external files, which a bare model file cannot vouch for; "
                             "load it from an exported bundle whose manifest lists them, or re-export it whole")
    engine = backends.open_engine(data, fmt, threads, backend, verified=False, source=path.name)
    return Model(engine, path=path)


class Model:
    """A loaded model: `predict_tensor`, `run`, `predict`, `classify`, `info`.

    Thread-safety: one lock per instance serialises engine calls (resize, set inputs, invoke, read
    outputs), because a TFLite interpreter is not thread-safe. A lock rather than a pool of engines:
    each engine already uses `threads` CPU cores per call, so parallel engines on a small device only
    compete for the same cores while multiplying memory (one tensor arena per engine), and one
    engine gives results that never depend on which copy ran. Checking and preprocessing run outside
    the lock. Load one `Model` per thread when calls must truly overlap.
    """

    def __init__(self, engine: backends.Backend, *, path: Path, manifest: Manifest | None = None,
                 artifact: Artifact | None = None, preprocessor: Preprocessor | None = None,
                 labels: Sequence[str] = (), selection: str | None = None):
        self.engine, self.path, self.manifest, self.artifact = engine, path, manifest, artifact
        self.selection = selection
        self.preprocessor = preprocessor
        self._inputs, self._outputs = engine.inputs(), engine.outputs()
        if not self._inputs or not self._outputs:
            missing = "inputs" if not self._inputs else "outputs"
            raise ModelFileError(f"{path.name} has no {missing}, so there is nothing to run: the file is damaged "
                                 "or is not a model for inference; re-export or re-copy it")
        self._lock = threading.Lock()
        self._id_range = self._token_range()
        self._feeders = [tensors.make_feeder(s, self._id_range, engine.rounding) for s in self._inputs]
        self._single_free = len(self._inputs) == 1 and bool(self._inputs[0].shape) and self._inputs[0].shape[0] is None
        self.labels = list(labels) or self._default_labels()
        self._check_labels()
        self.pixel_table = self._pixel_table()
        self.takes_pixels = self._takes_pixels()
        if self.takes_pixels:
            self._feeders[0] = self._pixel_feeder(self._feeders[0])

    # ------------------------------------------------------------ tensors

    def predict_tensor(self, batch: Any) -> np.ndarray | dict[str, np.ndarray]:
        """A preprocessed batch (array; a mapping name → array or a list for several inputs) →
        float32 outputs (dequantised), one array, or a dict by name when the model has several."""
        if self._single_free and type(batch) is np.ndarray:  # the common case: one array, any batch size
            outputs = self._run([self._feeders[0](batch)])
        else:
            feeds = [feed(x) for feed, x in zip(self._feeders, self._arrange(batch))]
            outputs = tensors.run_batched(feeds, self._inputs, self._run)
        results = [from_engine(np.asarray(y), spec) for y, spec in zip(outputs, self._outputs)]
        if len(results) == 1:
            return results[0]
        return {spec.name: y for spec, y in zip(self._outputs, results)}

    def run(self, feeds: Any) -> dict[str, np.ndarray]:
        """One engine invocation on the tensors exactly as given: no batch axis assumed or added, no chunking.

        For models whose inputs carry no batch axis or differ in their leading size (`predict_tensor`
        assumes a shared batch axis). `feeds` is a dict name → array or a list in input order; each
        must match the declared shape (free dimensions take any size). Floats are quantised for a
        quantised input, as `predict_tensor` does. Returns float32 outputs (dequantised) by name."""
        specs = self._inputs
        if isinstance(feeds, Mapping) and set(feeds) - {s.name for s in specs}:
            unknown = sorted(map(str, set(feeds) - {s.name for s in specs}))
            raise UsageError(f"unknown inputs {unknown}; the model takes {[s.name for s in specs]}")
        if (isinstance(feeds, (list, tuple)) and len(feeds) == len(specs)
                and all(isinstance(f, np.ndarray) for f in feeds)):
            arrays = list(feeds)
        else:
            arrays = self._arrange(feeds)
        prepared = []
        for spec, x in zip(specs, arrays):
            array = tensors.as_array(x, spec)
            tensors.check_declared_shape(array, spec)
            prepared.append(tensors.to_engine_dtype(array, spec, self._id_range, self.engine.rounding))
        outputs = self._run(prepared)
        return {spec.name: from_engine(np.asarray(y), spec) for spec, y in zip(self._outputs, outputs)}

    @property
    def input_specs(self) -> list[TensorSpec]:
        """The engine's inputs in order: name, shape (None: free), dtype, scale and zero point."""
        return list(self._inputs)

    def engine_input(self, batch: Any, index: int = 0) -> np.ndarray:
        """`batch` for input `index` exactly as `predict_tensor` hands it to the engine: checked,
        converted and quantised with the model's own parameters."""
        return self._feeders[index](batch)

    def _run(self, feeds: list[np.ndarray]) -> list[np.ndarray]:
        with self._lock:
            return self.engine.run(feeds)

    def _arrange(self, batch: Any) -> list[Any]:
        if isinstance(batch, Mapping):
            missing = [s.name for s in self._inputs if s.name not in batch]
            if missing:
                raise UsageError(f"missing inputs {missing}; the model takes {[s.name for s in self._inputs]}")
            return [batch[s.name] for s in self._inputs]
        if len(self._inputs) == 1:
            return [batch]
        if not isinstance(batch, (list, tuple)) or len(batch) != len(self._inputs):
            raise UsageError(f"the model takes {len(self._inputs)} inputs {[s.name for s in self._inputs]}: "
                             "pass a dict name → array or a list in that order")
        return list(batch)

    # ------------------------------------------------------------ raw input

    def predict(self, raw_items: Any) -> np.ndarray:
        """Raw items (texts, or image paths / PIL images / HxWx3 arrays) → float32 probabilities.
        One str, path or image counts as a batch of one."""
        if self.preprocessor is None and self.manifest is not None:
            raise UsageError(f"{self.path.name} is a tensor-only bundle (exported without preprocessing), so it "
                             "takes no raw items: pass model-ready tensors to predict_tensor() or run()")
        if self.preprocessor is None:
            raise UsageError(f"{self.path.name} was loaded without a manifest, so it has no preprocessing: "
                             "pass tensors to predict_tensor(), or load the bundle directory")
        items = as_items(raw_items, self.manifest.kind)
        step = max(1, limits.BATCH_CHUNK)  # preprocess and run in chunks: memory does not grow with the batch
        if len(items) <= step:
            return self._predict_items(items)
        return np.concatenate([self._predict_items(items[i:i + step]) for i in range(0, len(items), step)])

    def preprocess(self, raw_items: Any) -> np.ndarray:
        """Raw items → the batch `predict` hands to `predict_tensor`: the preprocessing's float32 tensor,
        or, for an image model with a quantised input, its integers looked up from the pixels
        (`pixel_table`: the same integers, without a float tensor), or for a model that takes pixels
        (`takes_pixels`) the uint8 pixels themselves."""
        if self.preprocessor is None:
            raise UsageError(f"{self.path.name} was loaded without a manifest, so it has no preprocessing: "
                             "pass tensors to predict_tensor(), or load the bundle directory")
        return self._preprocessed(as_items(raw_items, self.manifest.kind))

    def _preprocessed(self, items: list[Any]) -> np.ndarray:
        preprocessor, table = self.preprocessor, self.pixel_table
        if self.takes_pixels:  # the normalisation is inside the model: the pixels as they are
            pixels = preprocessor.pixels(items)
            return pixels if pixels.dtype == np.uint8 else preprocessor.normalized(pixels)
        if table is None or not isinstance(preprocessor, ImagePreprocessor):
            return preprocessor(items)
        if table.lut is not None and not any(isinstance(i, np.ndarray) and i.dtype.kind == "f" for i in items):
            return preprocessor.pixels(items, lut=table.lut).view(table.dtype)  # looked up while decoding
        pixels = preprocessor.pixels(items)
        return table(pixels) if pixels.dtype == np.uint8 else preprocessor.normalized(pixels)

    def _predict_items(self, items: list[Any]) -> np.ndarray:
        out = self.predict_tensor(self._preprocessed(items))
        return next(iter(out.values())) if isinstance(out, dict) else out

    def classify(self, raw_items: Any) -> list[tuple[str, float]]:
        """(label, probability of that label) per item: a single sigmoid unit is the probability of
        labels[1] (threshold 0.5); otherwise the most probable class."""
        return self.labels_of(self.predict(raw_items))

    def labels_of(self, probabilities: np.ndarray) -> list[tuple[str, float]]:
        """(label, score) per row of a probability batch, as `classify` reports them."""
        p = np.asarray(probabilities, dtype=np.float32)
        if p.ndim != 2:
            raise InferenceError(f"classify needs a (batch, classes) output, the model gives shape {p.shape}")
        if p.shape[1] == 1:
            positive = p[:, 0] >= 0.5
            return [(self.labels[1], float(q)) if pos else (self.labels[0], float(1.0 - q))
                    for q, pos in zip(p[:, 0], positive)]
        best = p.argmax(axis=1)
        return [(self.labels[int(i)] if int(i) < len(self.labels) else str(int(i)), float(row[i]))
                for i, row in zip(best, p)]

    # ------------------------------------------------------------ description

    def info(self) -> dict[str, Any]:
        """What was loaded and how: files, variant, engine, threads, tensors, labels, manifest."""
        a, m = self.artifact, self.manifest
        return {
            "path": str(self.path),
            "task": m.task if m else None,
            "kind": m.kind if m else None,
            "variant": a.key if a else None,
            "format": a.format if a else SUFFIXES.get(self.path.suffix.lower()),
            "file": a.file if a else self.path.name,
            "sha256": a.sha256 if a else None,
            "verified": a is not None,
            "status": a.status if a else None,
            "selected_because": self.selection,
            "backend": self.engine.name,
            "backend_version": self.engine.version,
            "threads": self.engine.threads,
            "thread_safety": "one lock per model",
            "quantize_rounding": self.engine.rounding,
            "kernels": self.engine.kernels,
            "input": f"raw items ({m.kind}) or tensors" if self.preprocessor is not None else "tensors only",
            "takes_pixels": self.takes_pixels,
            "inputs": [_spec_dict(s) for s in self._inputs],
            "outputs": [_spec_dict(s) for s in self._outputs],
            "labels": self.labels,
            "preprocessing": m.preprocessing if m else None,
            "manifest": m.to_dict() if m else None,
        }

    def __repr__(self) -> str:
        what = self.artifact.key if self.artifact else self.path.name
        return f"<runtime.Model {what} on {self.engine.name} {self.engine.version}, {self.engine.threads} threads>"

    # ------------------------------------------------------------ helpers

    def _pixel_table(self) -> PixelTable | None:
        """For an image bundle whose one input is quantised: uint8 pixels → the engine's integers."""
        if not isinstance(self.preprocessor, ImagePreprocessor) or len(self._inputs) != 1 \
                or not is_quantized(self._inputs[0]):
            return None
        spec, rounding = self._inputs[0], self.engine.rounding
        return pixel_table(self.preprocessor.normalized, lambda x: tensors.to_engine_dtype(x, spec, None, rounding))

    def _takes_pixels(self) -> bool:
        """Whether the model takes camera pixels as they are: an image bundle whose one input is uint8 with no
        quantisation parameters (its normalisation inside the graph, as export writes full-integer image
        models for phones, or a raw-pixel model imported with `normalization: none`)."""
        if not isinstance(self.preprocessor, ImagePreprocessor) or len(self._inputs) != 1:
            return False
        return takes_pixels(self._inputs[0])

    def _pixel_feeder(self, feed: Callable[[Any], np.ndarray]) -> Callable[[Any], np.ndarray]:
        """`feed` for a model that takes pixels, also taking the normalised float tensors `predict_tensor`
        takes for any image model: each value becomes the pixel whose normalisation is nearest."""
        nearest, rank = nearest_pixels(self.preprocessor.normalized), len(self._inputs[0].shape)

        def feed_pixels(batch: Any) -> np.ndarray:
            if (isinstance(batch, np.ndarray) and batch.dtype.kind == "f" and nearest is not None
                    and batch.ndim == rank and batch.shape[-1:] == (3,)):  # any other shape: feed's own error
                tensors.check_finite(batch, self._inputs[0])
                batch = nearest(batch)
            return feed(batch)

        return feed_pixels

    def _token_range(self) -> tuple[int, int | None] | None:
        if self.manifest is None or self.manifest.kind != "text":
            return None
        return (0, self.manifest.preprocessing.get("num_words"))

    def _default_labels(self) -> list[str]:
        classes = self._outputs[0].shape[-1] if self._outputs and self._outputs[0].shape else None
        if classes == 1:
            return ["0", "1"]
        return [str(i) for i in range(classes)] if isinstance(classes, int) else []

    def _check_labels(self) -> None:
        classes = self._outputs[0].shape[-1] if self._outputs and self._outputs[0].shape else None
        if self.manifest is None or not isinstance(classes, int):
            return
        expected = 2 if classes == 1 else classes
        if len(self.labels) != expected:
            raise ManifestError(f"the manifest lists {len(self.labels)} labels but the model has {expected} classes; "
                                "re-export the bundle")


def _spec_dict(spec: TensorSpec) -> dict[str, Any]:
    return {"name": spec.name, "shape": spec.shape, "dtype": spec.dtype, "scale": spec.scale,
            "zero_point": spec.zero_point}
