"""Export's variant table: its rows are the runtime's (`runtime.variants`), in order, with their tolerances and
converter settings; selection by format and name."""

import pytest

from edgeport.export.variants import FLOAT16, FLOAT32, INTEGER, VARIANTS, select_variants, variant
from edgeport.runtime.variants import KEYS, VARIANT_FACTS

ALL_KEYS = list(KEYS)


def test_rows_are_the_runtime_tables_keys_in_order():
    assert len(VARIANTS) == 7
    assert [v.key for v in VARIANTS] == ALL_KEYS
    assert [(v.format, v.name, v.filename) for v in VARIANTS] == [(f.format, f.name, f.filename) for f in VARIANT_FACTS]
    assert variant("tflite-int8").filename == "model.int8.tflite"
    assert variant("onnx-static-int8").filename == "model.static-int8.onnx"


def test_each_row_has_its_precisions_tolerance():
    # agreement floors are floors for the 95 % lower bound (`export.agreement`)
    assert (FLOAT32.max_abs_diff, FLOAT32.min_agreement) == (1e-5, 0.99)
    assert (FLOAT16.max_abs_diff, FLOAT16.min_agreement) == (5e-2, 0.98)
    assert (INTEGER.max_abs_diff, INTEGER.min_agreement, INTEGER.max_accuracy_delta) == (None, 0.96, 1.0)
    for row in VARIANTS:
        expected = FLOAT32 if row.name == "fp32" else FLOAT16 if row.name == "fp16" else INTEGER
        assert row.tolerance == expected, row.key


def test_calibrated_rows_are_the_full_integer_ones():
    assert {v.key for v in VARIANTS if v.calibrated} == {"tflite-int8", "onnx-static-int8"}
    assert variant("onnx-static-int8").options["quant_format"] == "QDQ"
    assert variant("tflite-int8").options["supported_ops"] == ("TFLITE_BUILTINS_INT8",)


@pytest.mark.parametrize(
    "formats, names, expected",
    [
        (None, None, ALL_KEYS),
        (["onnx"], None, ALL_KEYS[4:]),
        (None, ["fp32"], ["tflite-fp32", "onnx-fp32"]),
        (["tflite"], ["int8", "onnx-fp32"], ["tflite-int8"]),
        (None, ["onnx-static-int8", "tflite-fp16"], ["tflite-fp16", "onnx-static-int8"]),
    ],
)
def test_select_variants(formats, names, expected):
    assert [v.key for v in select_variants(formats, names)] == expected


@pytest.mark.parametrize("formats, names, message", [(["coreml"], None, "unknown format"), (None, ["int4"], "unknown variant"),
                                                     (["onnx"], ["fp16"], "no variant matches")])
def test_select_variants_refuses_unknown_or_empty(formats, names, message):
    with pytest.raises(ValueError, match=message):
        select_variants(formats, names)
    with pytest.raises(KeyError):
        variant("tflite-int4")
