"""The paired accuracy rule: a drop fails only when it exceeds the tolerance and the held-out set shows it."""

import numpy as np
import pytest

from edgeport.export.paired import (
    PairedAccuracy, paired_accuracy, resolution, sign_test_p, smallest_significant_drop,
)
from edgeport.export.checks import AccuracyError, Answers, compare_outputs
from edgeport.export.variants import INTEGER


def two_class(classes: np.ndarray) -> np.ndarray:
    """Confident two-class probabilities for the given classes, with some spread."""
    top = np.linspace(0.7, 0.99, len(classes))
    p = np.stack([1 - top, top], axis=1)
    return np.where(np.asarray(classes)[:, None] == 1, p, p[:, ::-1]).astype(np.float32)


@pytest.mark.parametrize(("against", "towards", "p"), [
    # by hand: P(X >= b) for X ~ Bin(b + c, 1/2)
    (6, 1, (7 + 1) / 128),  # C(7,6) + C(7,7) over 2^7 = 0.0625
    (7, 1, (8 + 1) / 256),  # 0.0352
    (1, 0, 0.5), (0, 0, 1.0), (5, 0, 1 / 32),
    (2, 2, (6 + 4 + 1) / 16),  # C(4,2) + C(4,3) + C(4,4) over 2^4
])
def test_sign_test_known_values(against, towards, p):
    assert sign_test_p(against, towards) == pytest.approx(p, abs=1e-12)


def test_known_case_by_hand():
    keras = np.array([1, 1, 1, 1, 1, 1, 1, 0, 0, 0])
    variant = np.array([0, 0, 1, 1, 1, 1, 1, 1, 0, 0])
    labels = np.array([1, 1, 1, 1, 1, 1, 1, 1, 1, 0])
    paired = paired_accuracy(keras, variant, labels)
    # Keras right on items 0-6 and 9 (8); the variant on 2-7 and 9 (7): Keras only on 0 and 1, the variant only on 7.
    assert (paired.samples, paired.keras_only, paired.variant_only) == (10, 2, 1)
    assert paired.drop_points == pytest.approx(10.0)
    assert paired.p_value == pytest.approx(4 / 8)  # C(3,2) + C(3,3) over 2^3
    assert not paired.significant_drop(1.0)


def test_one_changed_answer_in_39_passes():
    labels = np.array([0, 1] * 19 + [1])
    keras_p = two_class(labels)  # Keras right on all 39
    out = keras_p.copy()
    out[5] = out[5, ::-1]  # one photo changes its answer: -2.56 points
    wide = two_class(np.arange(394) % 2)  # the agreement set: every photo and its flip, that one changed
    wide_out = wide.copy()
    wide_out[5] = wide_out[5, ::-1]
    result = compare_outputs("tflite-int8", Answers(keras_p, out, labels), INTEGER, agreement=Answers(wide, wide_out))
    assert result.accuracy_delta == pytest.approx(-100 / 39) and result.class_agreement == pytest.approx(393 / 394)
    assert result.paired.keras_only == 1 and result.paired.p_value == 0.5
    assert result.passed, result.failures
    assert result.to_dict()["accuracy_paired"] == {"keras_only_right": 1, "variant_only_right": 0, "p_value": 0.5}


def test_a_real_five_point_drop_on_400_fails():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 400)
    keras_classes = labels.copy()
    keras_classes[:40] = 1 - keras_classes[:40]  # Keras 90 % right
    variant_classes = keras_classes.copy()
    variant_classes[40:64] = 1 - variant_classes[40:64]  # 24 right answers lost...
    variant_classes[:4] = labels[:4]  # ...and 4 gained: 20 net, 5 points
    result = compare_outputs("onnx-static-int8", Answers(two_class(keras_classes), two_class(variant_classes), labels), INTEGER)
    assert result.accuracy_delta == pytest.approx(-5.0)
    assert (result.paired.keras_only, result.paired.variant_only) == (24, 4)
    assert result.paired.p_value < 1e-4
    assert AccuracyError in [type(f) for f in result.failures]
    assert any("24 held-out answers right for Keras only against 4" in str(f) for f in result.failures)


def test_a_gain_never_fails_and_a_small_significant_drop_within_tolerance_passes():
    assert not PairedAccuracy(400, 0, 30).significant_drop(1.0)  # 7.5 points better
    small = PairedAccuracy(2000, 15, 0)  # 0.75 points worse, p = 2^-15: shown, but within the 1-point tolerance
    assert small.p_value < 1e-4 and not small.significant_drop(1.0)


def test_resolution_of_the_pets_test_set():
    # 39 photos: all changed answers against the variant need p = 2^-d <= 0.05, so d = 5 (2^-4 = 0.0625)
    assert smallest_significant_drop(39, 1.0) == 5
    assert smallest_significant_drop(400, 1.0) == 5  # 5 > 4 items = 1 point
    assert smallest_significant_drop(2000, 1.0) == 21  # the tolerance binds: more than 20 items
    text = resolution(39, 1.0, noun="photos")
    assert text.startswith("39 held-out photos: one answer = 2.56 points; a drop under 12.82 points (5 changed answers")


def test_report_states_the_held_out_resolution():
    from edgeport.export.report import Row, render_markdown
    from edgeport.runtime.manifest import Artifact, Manifest

    keras_p = two_class(np.arange(39) % 2)
    parity = compare_outputs("tflite-int8", Answers(keras_p, keras_p, np.arange(39) % 2), INTEGER).to_dict()
    artifact = Artifact(format="tflite", variant="int8", file="model.int8.tflite", sha256="0" * 64, size=1000,
                        inputs=[], outputs=[], status="passed", parity=parity)
    manifest = Manifest(task="pets", kind="image", labels=["cat", "dog"], preprocessing={}, artifacts=[artifact])
    text = render_markdown(manifest, [Row("tflite", "int8", artifact)])
    assert "Resolution: 39 held-out photos: one answer = 2.56 points; a drop under 12.82 points" in text
    unlabelled = compare_outputs("tflite-int8", Answers(keras_p, keras_p), INTEGER).to_dict()
    bare = Artifact(**{**artifact.__dict__, "parity": unlabelled})
    assert "Resolution:" not in render_markdown(manifest, [Row("tflite", "int8", bare)])
