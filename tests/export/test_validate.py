"""Parity measurement on plain arrays: every figure, and a typed failure for every missed tolerance."""

import numpy as np
import pytest

from edgeport.export.validate import (
    AccuracyError, AgreementError, AtolError, CollapseError, NonFiniteError, ShapeError, WeightsMissingError,
    class_probabilities, compare_outputs, top_spread, wilson_interval,
)
from edgeport.export.variants import FLOAT16, FLOAT32, INTEGER
from edgeport.runtime.errors import EdgeportError


@pytest.fixture
def softmax_case():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(500, 4)) * 3
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = p.argmax(axis=1).copy()
    labels[:100] = (labels[:100] + 1) % 4  # Keras is right on 80%
    return p.astype(np.float32), labels


def kinds(result):
    return [type(f) for f in result.failures]


def test_identical_outputs_pass_every_tolerance(softmax_case):
    p, labels = softmax_case
    for tolerance in (FLOAT32, FLOAT16, INTEGER):
        result = compare_outputs("k", p, p.copy(), labels, tolerance)
        assert result.passed and result.max_abs_diff == 0.0 and result.class_agreement == 1.0
        assert result.accuracy == pytest.approx(0.8) and result.accuracy_delta == 0.0
        assert result.spread == pytest.approx(result.keras_spread) and result.spread > 0.05


def test_small_noise_fails_fp32_passes_fp16(softmax_case):
    p, labels = softmax_case
    noisy = p + np.float32(1e-4)
    fp32 = compare_outputs("tflite-fp32", p, noisy, labels, FLOAT32)
    assert kinds(fp32) == [AtolError]
    assert fp32.failures[0].measured == pytest.approx(1e-4, rel=1e-2) and fp32.failures[0].tolerance == 1e-5
    assert "tflite-fp32" in str(fp32.failures[0]) and "1e-05" in str(fp32.failures[0])
    assert compare_outputs("tflite-fp16", p, noisy, labels, FLOAT16).passed


def test_flipped_classes_fail_agreement_and_accuracy(softmax_case):
    p, labels = softmax_case
    out = p.copy()
    flip = np.arange(100, 130)  # Keras was right on these: accuracy drops 6 points
    out[flip] = np.roll(out[flip], 1, axis=1)
    result = compare_outputs("onnx-static-int8", p, out, labels, INTEGER)
    assert result.class_agreement == pytest.approx(0.94)
    assert result.accuracy_delta == pytest.approx(-6.0)
    assert kinds(result) == [AgreementError, AccuracyError]
    with pytest.raises(AgreementError, match="onnx-static-int8: class agreement 94.00%"):
        result.raise_for_failures()


def test_a_collapsed_model_fails_whatever_its_accuracy():
    labels = np.zeros(200, dtype=int)
    labels[:10] = 1
    reference = np.where(labels[:, None] == 1, [[0.1, 0.9]], [[0.8, 0.2]]) + np.linspace(0, 0.05, 200)[:, None] * [[1, -1]]
    constant = np.tile([[0.6, 0.4]], (200, 1))  # 95% accurate, but the same answer for everything
    result = compare_outputs("tflite-int8", reference, constant, labels, INTEGER)
    assert result.spread < 1e-9 and CollapseError in kinds(result)


def test_nan_shape_and_weightless_files_are_typed_failures(softmax_case):
    p, labels = softmax_case
    nan = p.copy()
    nan[3, 1] = np.nan
    assert NonFiniteError in kinds(compare_outputs("k", p, nan, labels, FLOAT16))
    assert ShapeError in kinds(compare_outputs("k", p, p[:, :3], labels, FLOAT16))
    tiny = compare_outputs("tflite-fp32", p, p, labels, FLOAT32, size=4_000, min_size=40_000)
    assert kinds(tiny) == [WeightsMissingError] and isinstance(tiny.failures[0], EdgeportError)


def test_sigmoid_output_is_two_class():
    p = np.array([[0.1], [0.7], [0.5001]], dtype=np.float32)
    assert np.allclose(class_probabilities(p), [[0.9, 0.1], [0.3, 0.7], [0.4999, 0.5001]])
    assert top_spread(np.full((5, 1), 0.3)) == 0.0
    result = compare_outputs("k", p, p, np.array([0, 1, 0]), INTEGER)
    assert result.accuracy == pytest.approx(2 / 3)


def test_parity_dict_carries_every_figure(softmax_case):
    p, labels = softmax_case
    doc = compare_outputs("k", p, p, labels, INTEGER).to_dict()
    assert {"samples", "max_abs_diff", "class_agreement", "accuracy", "keras_accuracy", "accuracy_delta_points",
            "spread", "keras_spread", "latency_ms_median", "tolerance", "failures"} <= set(doc)
    assert doc["tolerance"] == {"max_abs_diff": None, "min_agreement": 0.98, "max_accuracy_delta": 1.0}


@pytest.mark.parametrize("successes, n, low, high", [
    # Newcombe (1998), Statistics in Medicine 17:857-872, table I, method 3 (Wilson score without correction)
    (81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718),
])
def test_wilson_interval_matches_published_values(successes, n, low, high):
    got = wilson_interval(successes, n)
    assert got == pytest.approx((low, high), abs=5e-5)


def test_wilson_interval_refuses_impossible_counts():
    with pytest.raises(ValueError):
        wilson_interval(1, 0)
    with pytest.raises(ValueError):
        wilson_interval(5, 4)


def test_agreement_is_judged_on_the_agreement_set(softmax_case):
    p, labels = softmax_case
    rng = np.random.default_rng(1)
    wide = rng.dirichlet(np.ones(4), size=400)
    wrong = wide[:, [1, 0, 2, 3]]  # classes 0 and 1 swapped: the answer moves on about half the inputs
    result = compare_outputs("tflite-int8", p[:39], p[:39].copy(), labels[:39], INTEGER,
                             agreement_reference=wide, agreement_outputs=wrong)
    assert result.test_class_agreement == 1.0
    assert result.agreement_samples == 400
    assert result.class_agreement == pytest.approx(np.mean(wide.argmax(1) == wrong.argmax(1)))
    assert AgreementError in kinds(result)
    low, high = result.agreement_interval
    assert low <= result.class_agreement <= high
    doc = result.to_dict()
    assert doc["agreement_samples"] == 400 and doc["class_agreement_ci95"] == pytest.approx([low, high], abs=1e-6)
    same = compare_outputs("tflite-int8", p[:39], p[:39].copy(), labels[:39], INTEGER, agreement_reference=wide,
                           agreement_outputs=wide.copy())
    assert same.passed and same.agreement_samples == 400
