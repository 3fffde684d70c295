"""`runtime.measure.recommend`: the fastest passing variant, the smaller file within the tie band."""

import pytest

from edgeport.runtime.measure.recommend import TIE, Candidate, choose


def test_fastest_passing_wins_and_failed_ones_are_named():
    choice = choose([Candidate("tflite-dynamic-int8", True, 300_000, 1.73), Candidate("tflite-int8", True, 330_000, 1.19),
                     Candidate("tflite-fp32", True, 1_000_000, 1.25), Candidate("onnx-static-int8", False, 320_000, 0.9)])
    assert choice.chosen.key == "tflite-int8" and choice.fastest_ms == 1.19
    assert choice.faster_not_passed == ("onnx-static-int8",)
    reason = choice.reason("raw engine, test CPU")
    assert "median 1.190 ms per prediction at batch 1, 1 thread (raw engine, test CPU); 330,000 bytes" in reason
    assert "faster but not passed: onnx-static-int8" in reason and "smaller file" not in reason


def test_ties_go_to_the_smaller_file_only_within_the_band():
    assert TIE == pytest.approx(0.03)
    tied = choose([Candidate("big", True, 9000, 1.00), Candidate("small", True, 3000, 1.029)])
    assert tied.chosen.key == "small" and "within 3% of the fastest (1.000 ms), so the smaller file" in tied.reason("x")
    assert choose([Candidate("big", True, 9000, 1.00), Candidate("small", True, 3000, 1.031)]).chosen.key == "big"


def test_nothing_passed_nothing_chosen():
    assert choose([Candidate("a", False, 1, 0.1)]) is None and choose([]) is None
