"""Where does int8 error enter? Per-layer statistics of a trained bundle's full-integer TFLite and QDQ ONNX files.

    python tools/int8_debug.py artifacts/pets [--top 12] [--samples 32] [--csv DIR]

TFLite: `tf.lite.experimental.QuantizationDebugger` runs the float and the quantised graph side by side and,
for every quantised op output, reports the error of the dequantised value against the float one. Printed:
RMSE/scale (0.29 = plain rounding of one step; larger means error carried in from earlier layers or clipped)
and the relative error ‖q - f‖ / ‖f‖, which says how much of the signal is lost.
ONNX: `onnxruntime.quantization.qdq_loss_debug` saves every activation of the float and the QDQ model;
printed: SQNR in dB of each QDQ activation against the float model's (`xmodel_err`, accumulated) and against
its own unquantised value (`qdq_err`, that tensor's rounding alone). Low dB is bad.

A workstation tool: it imports TensorFlow, onnxruntime.quantization and the training code.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def relative_error(float_values: Any, quant_values: Any, scale: float, zero_point: int) -> float:
    """‖dequantised - float‖ / ‖float‖ over every sample of one tensor."""
    f = np.concatenate([np.ravel(v) for v in float_values]).astype(np.float64)
    q = np.concatenate([np.ravel(v) for v in quant_values]).astype(np.float64)
    dq = (q - zero_point) * scale
    return float(np.linalg.norm(dq - f) / max(np.linalg.norm(f), 1e-12))


def tflite_layers(model: Any, calib: np.ndarray, debug: np.ndarray) -> list[dict[str, Any]]:
    """One row per quantised op output: op, tensor name, scale, RMSE/scale, relative error."""
    import tensorflow as tf

    from edgeport.export.converters import quiet

    def dataset(x: np.ndarray):
        def generate() -> Iterator[list[np.ndarray]]:
            for i in range(len(x)):
                yield [x[i : i + 1]]
        return generate

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = dataset(calib)
    options = tf.lite.experimental.QuantizationDebugOptions(layer_direct_compare_metrics={"rel_err": relative_error})
    with quiet():
        debugger = tf.lite.experimental.QuantizationDebugger(converter=converter, debug_dataset=dataset(debug), debug_options=options)
        debugger.run()
    buffer = io.StringIO()
    debugger.layer_statistics_dump(buffer)
    rows = []
    for row in csv.DictReader(io.StringIO(buffer.getvalue())):
        scale = float(row["scale"])
        rows.append({
            "op": row["op_name"], "tensor": row["tensor_name"], "elements": int(float(row["num_elements"])), "scale": scale,
            "range": scale * 255, "rmse_over_scale": float(np.sqrt(float(row["mean_squared_error"])) / scale) if scale else float("nan"),
            "rel_err": float(row["rel_err"]), "max_abs_error": float(row["max_abs_error"]),
        })
    return rows


def onnx_layers(prepared: Path, qdq: Path, x: np.ndarray) -> list[dict[str, Any]]:
    """One row per QDQ activation: SQNR (dB) against the float model and against its own rounding."""
    from onnxruntime.quantization.qdq_loss_debug import (
        collect_activations, compute_activation_error, create_activation_matching, modify_model_output_intermediate_tensors)

    from edgeport.export.calibrate import RepresentativeBatches, onnx_reader
    from edgeport.export.onnx import onnx_tensor_specs
    from edgeport.export.converters import quiet

    name = onnx_tensor_specs(prepared)[0][0].name
    with tempfile.TemporaryDirectory(prefix="int8-debug-") as work, quiet():
        float_aug, qdq_aug = Path(work) / "float.onnx", Path(work) / "qdq.onnx"
        modify_model_output_intermediate_tensors(str(prepared), str(float_aug))
        modify_model_output_intermediate_tensors(str(qdq), str(qdq_aug))
        float_acts = collect_activations(str(float_aug), onnx_reader(RepresentativeBatches(x), name))
        qdq_acts = collect_activations(str(qdq_aug), onnx_reader(RepresentativeBatches(x), name))
    errors = compute_activation_error(create_activation_matching(qdq_acts, float_acts))
    return [{"tensor": k, "xmodel_sqnr_db": v.get("xmodel_err", float("nan")), "qdq_sqnr_db": v["qdq_err"]} for k, v in errors.items()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle")
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--samples", type=int, default=32, help="debug inputs (held-out photos and flips)")
    parser.add_argument("--onnx-qdq", help="a QDQ .onnx of the same model (default: quantise the float one, per-channel MinMax)")
    parser.add_argument("--csv", help="write every layer's figures as JSON into this directory")
    args = parser.parse_args(argv)

    import keras

    from edgeport.export import onnx as onnx_export
    from edgeport.export.variants import variant
    from edgeport.train.loop import load_task_data
    from edgeport.train.recipes import recipe_from_dict

    bundle = Path(args.bundle)
    task = json.loads((bundle / "keras/task.json").read_text())
    data = load_task_data(recipe_from_dict(task["recipe"]), os.environ.get("EDGEPORT_DATA_DIR"), int(task.get("seed", 0)))
    model = keras.models.load_model(bundle / "keras/model.keras", compile=False)
    calib = data.x_train.with_flips().array()
    debug = data.x_test.with_flips().array()[: args.samples]

    tfl = tflite_layers(model, calib, debug)
    print(f"TFLite full-integer, {len(tfl)} quantised op outputs, worst {args.top} by relative error ‖q−f‖/‖f‖:")
    print(f"{'op':24s} {'rel err':>8s} {'RMSE/scale':>10s} {'range':>8s}  tensor")
    for r in sorted(tfl, key=lambda r: -r["rel_err"])[: args.top]:
        print(f"{r['op']:24s} {r['rel_err']:8.4f} {r['rmse_over_scale']:10.3f} {r['range']:8.3f}  {r['tensor'][:90]}")

    with tempfile.TemporaryDirectory(prefix="int8-debug-") as work:
        fp32, prepared = Path(work) / "fp32.onnx", Path(work) / "prepared.onnx"
        onnx_export.export_onnx(model, fp32, variant("onnx-fp32"))
        from onnxruntime.quantization import quant_pre_process
        quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
        qdq = Path(args.onnx_qdq) if args.onnx_qdq else Path(work) / "qdq.onnx"
        if not args.onnx_qdq:
            from edgeport.export.calibrate import RepresentativeBatches
            onnx_export.quantize_static_qdq(fp32, qdq, RepresentativeBatches(calib))
        onx = onnx_layers(prepared, qdq, debug)
    print(f"\nONNX QDQ, {len(onx)} quantised activations, worst {args.top} by SQNR against the float model (dB, low is bad):")
    print(f"{'vs float':>8s} {'own QDQ':>8s}  tensor")
    for r in sorted(onx, key=lambda r: r["xmodel_sqnr_db"])[: args.top]:
        print(f"{r['xmodel_sqnr_db']:8.2f} {r['qdq_sqnr_db']:8.2f}  {r['tensor'][:90]}")
    if args.csv:
        out = Path(args.csv)
        out.mkdir(parents=True, exist_ok=True)
        (out / "tflite_layers.json").write_text(json.dumps(tfl, indent=1))
        (out / "onnx_layers.json").write_text(json.dumps(onx, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
