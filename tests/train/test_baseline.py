"""The baseline: the exact one-sided binomial decision on known cases, the majority class, per-class
recall, class weights and the line that says a model learned nothing."""

from __future__ import annotations

from fractions import Fraction
from math import comb

import numpy as np
import pytest

from edgeport.train import baseline


def exact_tail(k: int, n: int, p: Fraction) -> float:
    """P(X >= k) by exact rational arithmetic: the reference the log-space sum is held to."""
    return float(sum(comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1)))


@pytest.mark.parametrize("k, n, expected", [
    (9, 10, 11 / 1024),   # P(X >= 9) for ten fair coins: (10 + 1) / 2^10
    (8, 10, 56 / 1024),   # (45 + 10 + 1) / 2^10
    (10, 10, 1 / 1024),
    (0, 10, 1.0),
])
def test_binomial_tail_of_fair_coins(k, n, expected):
    assert baseline.binomial_tail(k, n, 0.5) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("k, n, m", [(39, 91, 39), (45, 91, 39), (72, 91, 39), (700, 2246, 813), (40, 250, 120)])
def test_binomial_tail_matches_exact_arithmetic(k, n, m):
    assert baseline.binomial_tail(k, n, m / n) == pytest.approx(exact_tail(k, n, Fraction(m, n)), rel=1e-9, abs=1e-300)


def test_the_decision_at_five_percent():
    # 9 of 10 against a fair coin: p = 0.0107, better; 8 of 10: p = 0.0547, not better
    assert baseline.better_than_chance(9, 10, 0.5)[0] is True
    assert baseline.better_than_chance(8, 10, 0.5)[0] is False
    # the case: 91 held-out texts, the largest class 39 of them (0.4286)
    assert baseline.better_than_chance(39, 91, 39 / 91)[0] is False  # exactly the majority share
    assert baseline.better_than_chance(72, 91, 39 / 91)[0] is True  # 0.791
    # a model that always answers the only class of the test set cannot beat it
    assert baseline.better_than_chance(20, 20, 1.0)[0] is False


def test_compare_takes_the_majority_from_training_and_scores_the_test_set():
    y_train = np.array([2, 2, 2, 0, 1])
    y_test = np.array([0, 0, 1, 2, 2, 0])
    predicted = np.array([0, 1, 1, 2, 0, 0])
    found = baseline.compare(y_train, y_test, predicted, ["a", "b", "c"])
    assert found["baseline"] == {"majority_class": "c", "majority_accuracy": pytest.approx(2 / 6)}
    assert found["per_class_recall"] == {"a": pytest.approx(2 / 3), "b": 1.0, "c": 0.5}
    assert found["better_than_majority"] is False  # 4 of 6 against 1/3: p = 0.1


def test_class_weights_only_past_twice_the_smallest_class():
    assert baseline.class_weights(np.array([0] * 20 + [1] * 10), 2) is None  # exactly twice: left alone
    weights = baseline.class_weights(np.array([0] * 30 + [1] * 10 + [2] * 20), 3)
    assert weights == {0: pytest.approx(60 / 90), 1: pytest.approx(60 / 30), 2: pytest.approx(60 / 60)}


def test_the_line_names_the_class_and_what_to_do():
    line = baseline.not_learned_line(0.4286, {"majority_class": "gpl", "majority_accuracy": 0.4286})
    assert line == "test accuracy 0.43 is what always answering 'gpl' gets: the model learned nothing; more data or `--epochs`"
    line = baseline.not_learned_line(0.5, {"majority_class": "gpl", "majority_accuracy": 0.4286})
    assert "0.50 is not significantly better than always answering 'gpl' (0.43" in line
    line = baseline.not_learned_line(0.0, {"majority_class": "hog", "majority_accuracy": 1 / 24})
    assert line.startswith("test accuracy 0.00 is below what always answering 'hog' gets (0.04)")


def test_shuffled_labels_train_export_and_are_marked(tmp_path, capsys):
    """Texts whose labels say nothing about them: training and export each say so in one line, the
    bundle is kept, and report.md and metrics.json mark it."""
    import csv
    import json

    from edgeport.export import cli as export_cli
    from edgeport.train import cli

    rng = np.random.RandomState(0)
    words = [f"w{i}" for i in range(40)]
    data = tmp_path / "noise.csv"
    with data.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows((" ".join(rng.choice(words, 6)), "abc"[i % 3] if i % 2 else "a") for i in range(90))
    out = tmp_path / "out"
    tiny = ["--epochs", "2", "--num-words", "50", "--maxlen", "8", "--embedding-dim", "4", "--head", "average", "--quiet"]
    assert cli.main(["text", "--data", str(data), "--out", str(out), *tiny]) == 0
    said = capsys.readouterr().out.splitlines()
    metrics = json.loads((out / "keras" / "metrics.json").read_text())
    assert metrics["better_than_majority"] is False and metrics["baseline"]["majority_class"] == "a"
    assert set(metrics["per_class_recall"]) == {"a", "b", "c"}
    assert said[0].startswith("text: test accuracy ") and "always answering 'a'" in said[0]
    assert said[0].endswith("the model learned nothing; more data or `--epochs`")
    assert "(always 'a': " in said[1] and said[1].endswith(str(out / "keras" / "model.keras"))  # the summary, last

    assert export_cli.main([str(out), "--formats", "tflite", "--variants", "fp32", "--no-latency"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert sum("the model learned nothing" in line for line in lines) == 1
    report = (out / "report.md").read_text()
    assert "**Not better than the baseline: test accuracy" in report and (out / "manifest.json").is_file()
