"""Parity measurement on plain arrays: every figure, and a typed failure for every missed tolerance."""

import numpy as np
import pytest

from edgeport.export.checks import (
    AccuracyError, AgreementError, Answers, AtolError, CollapseError, NonFiniteError, OutputShapeError, WeightsMissingError,
    class_probabilities, compare_outputs, top_spread,
)
from edgeport.export.agreement import agreement_floor, agreement_resolution, inputs_needed, most_disagreements, wilson_interval
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
        result = compare_outputs("k", Answers(p, p.copy(), labels), tolerance)
        assert result.passed and result.max_abs_diff == 0.0 and result.class_agreement == 1.0
        assert result.accuracy == pytest.approx(0.8) and result.accuracy_delta == 0.0
        assert result.spread == pytest.approx(result.keras_spread) and result.spread > 0.05


def test_small_noise_fails_fp32_passes_fp16(softmax_case):
    p, labels = softmax_case
    noisy = p + np.float32(1e-4)
    fp32 = compare_outputs("tflite-fp32", Answers(p, noisy, labels), FLOAT32)
    assert kinds(fp32) == [AtolError]
    assert fp32.failures[0].measured == pytest.approx(1e-4, rel=1e-2) and fp32.failures[0].tolerance == 1e-5
    assert "tflite-fp32" in str(fp32.failures[0]) and "1e-05" in str(fp32.failures[0])
    assert compare_outputs("tflite-fp16", Answers(p, noisy, labels), FLOAT16).passed


def test_flipped_classes_fail_agreement_and_accuracy(softmax_case):
    p, labels = softmax_case
    out = p.copy()
    flip = np.arange(100, 130)  # Keras was right on these: accuracy drops 6 points
    out[flip] = np.roll(out[flip], 1, axis=1)
    result = compare_outputs("onnx-static-int8", Answers(p, out, labels), INTEGER)
    assert result.class_agreement == pytest.approx(0.94)
    assert result.accuracy_delta == pytest.approx(-6.0)
    assert kinds(result) == [AgreementError, AccuracyError]
    said = r"onnx-static-int8: class agreement 470/500 \(94.00 %, 95 % lower bound 91.56 %\) is below the 96 % floor"
    with pytest.raises(AgreementError, match=said):
        result.raise_for_failures()


def test_a_collapsed_model_fails_whatever_its_accuracy():
    labels = np.zeros(200, dtype=int)
    labels[:10] = 1
    reference = np.where(labels[:, None] == 1, [[0.1, 0.9]], [[0.8, 0.2]]) + np.linspace(0, 0.05, 200)[:, None] * [[1, -1]]
    constant = np.tile([[0.6, 0.4]], (200, 1))  # 95% accurate, but the same answer for everything
    result = compare_outputs("tflite-int8", Answers(reference, constant, labels), INTEGER)
    assert result.spread < 1e-9 and CollapseError in kinds(result)


def test_nan_shape_and_weightless_files_are_typed_failures(softmax_case):
    p, labels = softmax_case
    nan = p.copy()
    nan[3, 1] = np.nan
    assert NonFiniteError in kinds(compare_outputs("k", Answers(p, nan, labels), FLOAT16))
    assert OutputShapeError in kinds(compare_outputs("k", Answers(p, p[:, :3], labels), FLOAT16))
    tiny = compare_outputs("tflite-fp32", Answers(p, p, labels), FLOAT32, size=4_000, min_size=40_000)
    assert kinds(tiny) == [WeightsMissingError] and isinstance(tiny.failures[0], EdgeportError)


def test_sigmoid_output_is_two_class():
    p = np.array([[0.1], [0.7], [0.5001]], dtype=np.float32)
    assert np.allclose(class_probabilities(p), [[0.9, 0.1], [0.3, 0.7], [0.4999, 0.5001]])
    assert top_spread(np.full((5, 1), 0.3)) == 0.0
    result = compare_outputs("k", Answers(p, p, np.array([0, 1, 0])), INTEGER)
    assert result.accuracy == pytest.approx(2 / 3)


def test_parity_dict_carries_every_figure(softmax_case):
    p, labels = softmax_case
    doc = compare_outputs("k", Answers(p, p, labels), INTEGER).to_dict()
    assert {"samples", "max_abs_diff", "class_agreement", "accuracy", "keras_accuracy", "accuracy_delta_points",
            "spread", "keras_spread", "latency_ms_median", "tolerance", "failures"} <= set(doc)
    assert doc["tolerance"] == {"max_abs_diff": None, "min_agreement": 0.96, "max_accuracy_delta": 1.0}


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
    result = compare_outputs("tflite-int8", Answers(p[:39], p[:39].copy(), labels[:39]), INTEGER,
                             agreement=Answers(wide, wrong))
    assert result.test_class_agreement == 1.0
    assert result.agreement_samples == 400
    assert result.class_agreement == pytest.approx(np.mean(wide.argmax(1) == wrong.argmax(1)))
    assert AgreementError in kinds(result)
    low, high = result.agreement_interval
    assert low <= result.class_agreement <= high
    doc = result.to_dict()
    assert doc["agreement_samples"] == 400 and doc["class_agreement_ci95"] == pytest.approx([low, high], abs=1e-6)
    same = compare_outputs("tflite-int8", Answers(p[:39], p[:39].copy(), labels[:39]), INTEGER,
                           agreement=Answers(wide, wide.copy()))
    assert same.passed and same.agreement_samples == 400


def two_class(classes: np.ndarray) -> np.ndarray:
    """Confident two-class probabilities for the given classes, with some spread."""
    top = np.linspace(0.7, 0.99, len(classes))
    p = np.stack([1 - top, top], axis=1)
    return np.where(np.asarray(classes)[:, None] == 1, p, p[:, ::-1])


def flipped(p: np.ndarray, count: int) -> np.ndarray:
    """`p` with the answers of its first `count` rows turned to the other class."""
    out = p.copy()
    out[:count] = out[:count, ::-1]
    return out


def with_near_ties(p: np.ndarray, count: int = 10) -> np.ndarray:
    """`p` with its first `count` rows near-ties (top-two margin 2e-6): flipping them moves |Δp| by 2e-6 only."""
    out = p.copy()
    out[:count] = [0.5 - 1e-6, 0.5 + 1e-6]
    return out


def test_wilson_lower_bound_by_hand():
    # 386 of 394 at z = 1.959964 (z² = 3.841459), p = 0.979695:
    # centre = (p + z²/2n) / (1 + z²/n) = (0.979695 + 0.004875) / 1.009750 = 0.975064
    # half = z · sqrt(p(1 − p)/n + z²/4n²) / (1 + z²/n) = 1.959964 · sqrt(5.0488e-5 + 6.186e-6) / 1.009750 = 0.014613
    assert wilson_interval(386, 394)[0] == pytest.approx(0.975064 - 0.014613, abs=2e-6)  # 0.96045: over int8's 0.96
    # 385 of 394: centre 0.972550, half 0.015387
    assert wilson_interval(385, 394)[0] == pytest.approx(0.972550 - 0.015387, abs=2e-6)  # 0.95716: under it
    # full agreement: p = 1, centre − half = 1 / (1 + z²/n) = n / (n + z²) = 394 / 397.841459
    assert wilson_interval(394, 394)[0] == pytest.approx(0.990344, abs=1e-6)
    assert wilson_interval(40, 40)[0] == pytest.approx(40 / 43.841459, abs=1e-8)  # 0.91238


@pytest.mark.parametrize("tolerance, passes, fails", [
    (INTEGER, 386, 385),  # lower bounds 96.05 % and 95.72 % against 96 %
    (FLOAT16, 392, 391),  # 98.17 % and 97.79 % against 98 %
    (FLOAT32, 394, 393),  # 99.03 % and 98.58 % against 99 %
])
def test_the_boundary_on_394_agreement_inputs(tolerance, passes, fails):
    wide, test = with_near_ties(two_class(np.arange(394) % 2)), two_class(np.arange(39) % 2)
    at = {k: compare_outputs("k", Answers(test, test.copy(), np.arange(39) % 2), tolerance,
                             agreement=Answers(wide, flipped(wide, 394 - k))) for k in (passes, fails)}
    assert at[passes].passed, at[passes].failures
    assert kinds(at[fails]) == [AgreementError]
    error = at[fails].failures[0]
    low = wilson_interval(fails, 394)[0]
    assert str(error) == (f"k: class agreement {fails}/394 ({100 * fails / 394:.2f} %, 95 % lower bound {100 * low:.2f} %) "
                          f"is below the {100 * tolerance.min_agreement:g} % floor for the lower bound")
    assert error.measured == low and error.tolerance == tolerance.min_agreement
    assert most_disagreements(394, tolerance.min_agreement) == 394 - passes


def test_int8_failure_names_count_bound_and_floor():
    wide = two_class(np.arange(394) % 2)
    result = compare_outputs("tflite-int8", Answers(wide, flipped(wide, 9)), INTEGER)
    assert [str(f) for f in result.failures] == [
        "tflite-int8: class agreement 385/394 (97.72 %, 95 % lower bound 95.72 %) is below the 96 % floor for the lower bound"]


def test_fp32_with_full_agreement_and_tiny_differences_passes():
    wide = two_class(np.arange(394) % 2)
    result = compare_outputs("onnx-fp32", Answers(wide, wide + 3e-7 * np.array([[-1, 1]])), FLOAT32)
    assert result.passed, result.failures
    assert result.class_agreement == 1.0 and 0 < result.max_abs_diff <= FLOAT32.max_abs_diff
    assert result.agreement_interval[0] == pytest.approx(0.990344, abs=1e-6)  # just over its 99 % floor


def test_floors_needs_and_the_small_set_rule():
    # full agreement shows a floor f once n / (n + z²) >= f, i.e. n >= f · z² / (1 − f):
    # 0.99 · 3.841459 / 0.01 = 380.3, 0.98 · 3.841459 / 0.02 = 188.2, 0.96 · 3.841459 / 0.04 = 92.2
    assert [inputs_needed(f) for f in (0.99, 0.98, 0.96)] == [381, 189, 93]
    assert inputs_needed(1.0) is None
    assert agreement_floor(394, 0.96) == 0.96 and agreement_floor(93, 0.96) == 0.96
    assert agreement_floor(92, 0.96) == pytest.approx(92 / (92 + 3.841459), abs=1e-6)  # 0.95994 < 0.96
    assert most_disagreements(40, 0.96) == 0 and most_disagreements(93, 0.96) == 0


def test_a_set_too_small_for_the_floor_passes_only_full_agreement():
    from edgeport.export.report import Row, render_markdown
    from edgeport.runtime.manifest import Artifact, Manifest

    labels = np.arange(40) % 2
    keras = two_class(labels)
    full = compare_outputs("tflite-int8", Answers(keras, keras.copy(), labels), INTEGER)
    assert full.passed and full.agreement_interval[0] < INTEGER.min_agreement  # 91.24 %: below the floor, yet it passes
    one = compare_outputs("tflite-int8", Answers(keras, flipped(keras, 1), labels), INTEGER)
    assert kinds(one) == [AgreementError]  # 39/40: 97.5 %, but less than full agreement on a set that cannot show 96 %
    assert str(one.failures[0]) == (
        "tflite-int8: class agreement 39/40 (97.50 %, 95 % lower bound 87.12 %) is below 91.24 %, the lower bound of full "
        "agreement on 40 inputs: the set is too small for the 96 % floor (it needs 93 inputs), so only full agreement passes")
    assert one.failures[0].tolerance == pytest.approx(40 / (40 + 3.841459), abs=1e-6)

    def report(result):
        artifact = Artifact(format="tflite", variant="int8", file="model.int8.tflite", sha256="0" * 64, size=1000,
                            inputs=[], outputs=[], status="passed" if result.passed else "failed", parity=result.to_dict())
        manifest = Manifest(task="pets", kind="image", labels=["cat", "dog"], preprocessing={}, artifacts=[artifact])
        return render_markdown(manifest, [Row("tflite", "int8", artifact)])

    line = ("Agreement on 40 inputs: the 95 % lower bound at full agreement is 91.24 %; the most disagreements a variant "
            "passes with: int8 (96 % floor) 0, as the set is too small for that floor (it needs 93 inputs).")
    assert line in report(full).splitlines()
    failed = report(one)
    assert line in failed.splitlines() and "the set is too small for the 96 % floor" in failed


def test_report_says_what_394_inputs_resolve():
    text = agreement_resolution(394, {0.99: "fp32", 0.98: "fp16", 0.96: "dynamic-int8, int8"})
    assert text == ("Agreement on 394 inputs: the 95 % lower bound at full agreement is 99.03 %; the most disagreements a "
                    "variant passes with: fp32 (99 % floor) 0; fp16 (98 % floor) 2; dynamic-int8, int8 (96 % floor) 8")
    small = agreement_resolution(200, {0.99: "fp32", 0.98: "fp16"})
    assert small.endswith("fp32 (99 % floor) 0, as the set is too small for that floor (it needs 381 inputs); fp16 (98 % floor) 0")
