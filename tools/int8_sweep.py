"""Measure quantisation recipes one by one on a trained image bundle: agreement with Keras on every photo and
its flip (Wilson 95 % interval), held-out accuracy and its Δ, and single-image latency at 1 thread against the
float32 file of the same format (raw engine, interleaved, same run).

    python tools/int8_sweep.py artifacts/pets --out artifacts/sweep/pets-s0 [--only t-int8,o-s8] [--exclude-tflite N1,N2]

Prints one line per recipe and writes `results.json` into `--out`. A workstation tool: it imports TensorFlow
and the training code (to rebuild the exact train/test split of the bundle's seed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
KEPT: list[str] = []  # TFLite op outputs the last mixed recipe kept in float


def tflite_recipe(model: Any, calib: np.ndarray | None, *, optimize: bool = True, types: tuple[str, ...] = (),
                  ops: tuple[str, ...] = (), io: str | None = None, denylist: tuple[str, ...] = ()) -> bytes:
    import tensorflow as tf

    from edgeport.export.converters import quiet

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if optimize:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if types:
        converter.target_spec.supported_types = [getattr(tf, t) for t in types]
    if ops:
        converter.target_spec.supported_ops = [getattr(tf.lite.OpsSet, o) for o in ops]
    dataset = None
    if calib is not None:
        def dataset():
            for i in range(len(calib)):
                yield [calib[i : i + 1]]
        converter.representative_dataset = dataset
    if io:
        converter.inference_input_type = converter.inference_output_type = getattr(tf, io)
    with quiet():
        if denylist:  # Keras layer names: every op output whose name carries one stays in float
            from edgeport.export.tflite import selective_quantized

            model_bytes, kept = selective_quantized(converter, dataset, denylist)
            KEPT.extend(kept)
            return model_bytes
        return converter.convert()


def aeq_recipe(float_tflite: bytes, calib: np.ndarray, activation_bits: int) -> bytes:
    """Google's ai-edge-quantizer on the float .tflite: static int8 weights, int8 or int16 activations."""
    import ai_edge_quantizer as aeq
    from ai_edge_litert.interpreter import Interpreter

    signatures = Interpreter(model_content=float_tflite).get_signature_list()
    key = next(iter(signatures))
    name = signatures[key]["inputs"][0]
    quantizer = aeq.Quantizer(bytearray(float_tflite))
    quantizer.load_quantization_recipe(aeq.recipe.static_wi8_ai16() if activation_bits == 16 else aeq.recipe.static_wi8_ai8())
    result = quantizer.calibrate({key: [{name: calib[i : i + 1]} for i in range(len(calib))]}, num_threads=1)
    return bytes(quantizer.quantize(result, enable_progress_report=False).quantized_model)


def onnx_recipe(prepared: Path, out: Path, calib: np.ndarray, *, per_channel: bool = True, act: str = "QInt8",
                method: str = "MinMax", reduce_range: bool = False, extra: dict | None = None, exclude: tuple[str, ...] = ()) -> None:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    from edgeport.export.calibrate import RepresentativeBatches, onnx_reader
    from edgeport.export.onnx import onnx_tensor_specs
    from edgeport.export.converters import quiet

    name = onnx_tensor_specs(prepared)[0][0].name
    if exclude:
        from edgeport.export.onnx import nodes_of_layers

        exclude = tuple(nodes_of_layers(prepared, exclude))
        print("float in ONNX:", exclude, flush=True)
    with quiet():
        quantize_static(str(prepared), str(out), onnx_reader(RepresentativeBatches(calib), name), quant_format=QuantFormat.QDQ,
                        per_channel=per_channel, reduce_range=reduce_range, activation_type=QuantType[act], weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod[method], extra_options=extra or {}, nodes_to_exclude=list(exclude) or None)


def latency(files: dict[str, Path], x: np.ndarray, repeats: int) -> dict[str, float]:
    """Median ms of one single-image call per file: raw engine, 1 thread, interleaved."""
    from edgeport.runtime.measure.direct_engine import DirectEngine
    from edgeport.runtime.measure.timing import measure

    calls: dict[str, Callable[[], Any]] = {}
    for key, path in files.items():
        fmt = "tflite" if path.suffix == ".tflite" else "onnx"
        engine = DirectEngine(path.read_bytes(), fmt, "litert" if fmt == "tflite" else "onnxruntime", 1)
        feed = x[:1]
        if fmt == "tflite":
            detail = engine._it.get_input_details()[0]
            if detail["dtype"] != np.float32:
                scale, zero = detail["quantization"]
                info = np.iinfo(detail["dtype"])
                feed = np.clip(np.round(feed / scale + zero), info.min, info.max).astype(detail["dtype"])
        calls[key] = engine.caller([np.ascontiguousarray(feed)])
    stats = measure(calls, repeats=repeats, warmup=5, min_time_s=2.0)
    return {key: round(s["p50"], 4) for key, s in stats.items()}


def main(argv: list[str] | None = None) -> int:
    from edgeport.train.samples import agreement_photos

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle")
    parser.add_argument("--out", required=True)
    parser.add_argument("--only", help="comma-separated recipe names")
    parser.add_argument("--float-layers", default="conv_pw_13", help="comma-separated Keras layer names kept in float (mixed)")
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args(argv)

    import keras

    from edgeport.export import onnx as onnx_export
    from edgeport.export.checks import Answers, compare_outputs
    from edgeport.export.validate import load_artifact, predict
    from edgeport.export.variants import INTEGER, variant
    from edgeport.train.loop import load_task_data
    from edgeport.train.recipes import recipe_from_dict

    bundle, out = Path(args.bundle), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    task = json.loads((bundle / "keras/task.json").read_text())
    data = load_task_data(recipe_from_dict(task["recipe"]), os.environ.get("EDGEPORT_DATA_DIR"), int(task.get("seed", 0)))
    model = keras.models.load_model(bundle / "keras/model.keras", compile=False)
    x_test, y_test = data.x_test.array(), data.y_test
    x_all = agreement_photos(data.x_train, data.x_test, int(task.get("seed", 0))).array()
    ref_test, ref_all = model.predict(x_test, verbose=0), model.predict(x_all, verbose=0)
    train, train_flips = data.x_train.array(), data.x_train.with_flips().array()

    onnx_fp32 = out / "o-fp32.onnx"
    if not onnx_fp32.exists():
        onnx_export.export_onnx(model, onnx_fp32, variant("onnx-fp32"))
    prepared = out / "o-prepared.onnx"
    if not prepared.exists():
        from onnxruntime.quantization import quant_pre_process
        quant_pre_process(str(onnx_fp32), str(prepared), skip_symbolic_shape=True)
    t_deny = o_deny = tuple(n for n in args.float_layers.split(",") if n)
    tfl: dict[str, Callable[[], bytes]] = {
        "t-fp32": lambda: tflite_recipe(model, None, optimize=False),
        "t-fp16": lambda: tflite_recipe(model, None, types=("float16",)),
        "t-dyn": lambda: tflite_recipe(model, None),
        "t-int8": lambda: tflite_recipe(model, train, ops=("TFLITE_BUILTINS_INT8",), io="int8"),
        "t-int8-flips": lambda: tflite_recipe(model, train_flips, ops=("TFLITE_BUILTINS_INT8",), io="int8"),
        "t-16x8": lambda: tflite_recipe(model, train_flips, ops=("EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8",)),
        "t-mixed": lambda: tflite_recipe(model, train_flips, denylist=t_deny),
        "t-aeq8": lambda: aeq_recipe(tflite_recipe(model, None, optimize=False), train_flips, 8),
        "t-aeq16": lambda: aeq_recipe(tflite_recipe(model, None, optimize=False), train_flips, 16),
    }
    onx: dict[str, dict[str, Any]] = {
        "o-s8": dict(calib=train),
        "o-s8-flips": dict(calib=train_flips),
        "o-s8-pertensor": dict(calib=train_flips, per_channel=False),
        "o-s8-sym": dict(calib=train_flips, extra={"ActivationSymmetric": True}),
        "o-s8-entropy": dict(calib=train_flips, method="Entropy"),
        "o-s8-pct": dict(calib=train_flips, method="Percentile", extra={"CalibPercentile": 99.999}),
        "o-u8": dict(calib=train_flips, act="QUInt8"),
        "o-u8-rr": dict(calib=train_flips, act="QUInt8", reduce_range=True),
        "o-s8-rr": dict(calib=train, reduce_range=True),
        "o-mixed-rr": dict(calib=train, reduce_range=True, exclude=o_deny),
        "o-mixed": dict(calib=train_flips, exclude=o_deny),
    }
    names = args.only.split(",") if args.only else [*tfl, "o-fp32", "o-dyn", *onx]
    results: dict[str, Any] = json.loads((out / "results.json").read_text()) if (out / "results.json").exists() else {}
    files: dict[str, Path] = {}
    for name in names:
        started = time.perf_counter()
        path = out / (name + (".tflite" if name.startswith("t-") else ".onnx"))
        try:
            if name in tfl:
                path.write_bytes(tfl[name]())
            elif name == "o-dyn":
                onnx_export.quantize_dynamic_int8(onnx_fp32, path, **dict(variant("onnx-dynamic-int8").options))
            elif name in onx:
                settings = dict(onx[name])
                onnx_recipe(prepared, path, settings.pop("calib"), **settings)
            loaded = load_artifact(path)
            result = compare_outputs(name, Answers(ref_test, predict(loaded, x_test), y_test), INTEGER,
                                     agreement=Answers(ref_all, predict(loaded, x_all)))
        except Exception as exc:  # noqa: BLE001 — a recipe the converter refuses is a result too
            results[name] = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}
            print(f"{name:16s} ERROR {results[name]['error']}", flush=True)
            continue
        files[name] = path
        if name == "t-mixed":
            print("float in TFLite:", [k.split(";")[0] for k in KEPT], flush=True)
        low, high = result.agreement_interval
        results[name] = {
            "agreement": result.class_agreement, "agreement_n": result.agreement_samples, "ci95": [low, high],
            "accuracy": result.accuracy, "keras_accuracy": result.keras_accuracy, "delta_points": result.accuracy_delta,
            "max_abs_diff": result.max_abs_diff, "size": path.stat().st_size, "seconds": round(time.perf_counter() - started, 1),
            "passed_int8_tolerance": result.passed,
        }
        print(f"{name:16s} agree {result.class_agreement:.4f} ({round(result.class_agreement * result.agreement_samples)}/"
              f"{result.agreement_samples}, {low:.3f}-{high:.3f})  acc {result.accuracy:.4f} Δ {result.accuracy_delta:+.2f}  "
              f"max|Δp| {result.max_abs_diff:.3g}  {path.stat().st_size:,} B", flush=True)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    timed = {n: p for n, p in files.items()}
    for base in ("t-fp32", "o-fp32"):
        p = out / (base + (".tflite" if base.startswith("t-") else ".onnx"))
        if p.exists():
            timed.setdefault(base, p)
    if args.repeats > 0 and len(timed) > 1:
        ms = latency(timed, x_test, args.repeats)
        for name, value in ms.items():
            fp32 = ms.get("t-fp32" if name.startswith("t-") else "o-fp32")
            results.setdefault(name, {})["latency_ms"] = value
            results[name]["speedup_vs_fp32"] = round(fp32 / value, 3) if fp32 else None
            print(f"{name:16s} {value:.3f} ms  ×{results[name]['speedup_vs_fp32']} vs fp32", flush=True)
        (out / "results.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
