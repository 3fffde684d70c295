"""`edgeport-train text` on a user's files: every input form trains a tiny model and exports; every bad input
is one clear line and exit status 2; training and the device tokenise alike."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeport.runtime.preprocess import TEXT_DEFAULTS, TextPreprocessor, text_to_word_sequence
from edgeport.train import cli, texts

TINY = ["--epochs", "1", "--num-words", "60", "--maxlen", "12", "--embedding-dim", "4", "--head", "average", "--quiet"]
GOOD = {"sport": ["the match was won", "a great goal tonight", "the team played well", "goal after goal, what a match"],
        "weather": ["rain all day", "sunny and warm tomorrow", "storm warning: strong wind", "cold rain and wind again"]}


def rows(n: int = 5) -> list[tuple[str, str]]:
    """Learnable labelled texts: each class has its own words."""
    return [(f"{text} ({i})", label) for i in range(n) for label, items in GOOD.items() for text in items]


def write_csv(path: Path, data, delimiter: str = ",", header=("text", "label")) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(data)
    return path


def write_jsonl(path: Path, data) -> Path:
    path.write_text("".join(json.dumps({"text": t, "label": y}, ensure_ascii=False) + "\n" for t, y in data), encoding="utf-8")
    return path


def write_folder(root: Path, data) -> Path:
    for i, (text, label) in enumerate(data):
        (root / str(label)).mkdir(parents=True, exist_ok=True)
        (root / str(label) / f"{i}.txt").write_text(text, encoding="utf-8")
    return root


def train_and_export(data: Path, out: Path, *extra: str) -> dict:
    from edgeport.export.bundle import export_bundle
    from edgeport.export.job import ExportOptions

    assert cli.main(["text", "--data", str(data), "--out", str(out), *TINY, *extra]) == 0
    result = export_bundle(out, ExportOptions(formats=["tflite"], variants=["fp32"], measure_latency=False))
    assert result.failed == []
    return json.loads((out / "keras" / "task.json").read_text())


def predict_raw(out: Path, items: list[str]) -> np.ndarray:
    from edgeport import runtime

    return runtime.load(out, variant="tflite-fp32").predict(items)


@pytest.mark.parametrize("form", ["csv", "tsv", "jsonl", "folder"])
def test_every_input_form_trains_and_exports(form, tmp_path):
    data = {"csv": lambda p: write_csv(p / "t.csv", rows()), "tsv": lambda p: write_csv(p / "t.tsv", rows(), "\t"),
            "jsonl": lambda p: write_jsonl(p / "t.jsonl", rows()), "folder": lambda p: write_folder(p / "texts", rows())}[form](tmp_path)
    task = train_and_export(data, tmp_path / "out")
    assert task["labels"] == ["sport", "weather"] and task["data"]["test"]["samples"] == 8  # a stratified fifth of 40
    vocab = json.loads((tmp_path / "out" / "vocab.json").read_text())
    assert min(vocab.values()) == 4 and max(vocab.values()) < 60 and "goal" in vocab and "," not in vocab
    probabilities = predict_raw(tmp_path / "out", ["a great goal", "rain and wind"])
    assert probabilities.shape == (2, 1)  # two classes: one sigmoid output


def test_integer_labels_quoted_newlines_and_a_test_file(tmp_path):
    train = [(f"line one\nline, two \"quoted\" {t}", int(y == "weather") + 3) for t, y in rows()]
    test = [(t, int(y == "weather") + 3) for t, y in rows(1)]
    test_file = write_csv(tmp_path / "test.csv", test)
    task = train_and_export(write_csv(tmp_path / "train.csv", train), tmp_path / "out", "--test", str(test_file))
    assert task["labels"] == ["3", "4"] and task["data"]["test"]["samples"] == 8
    parsed = texts.read_texts(tmp_path / "train.csv")
    assert parsed.texts[0] == train[0][0] and len(parsed.texts) == 40  # newlines inside quotes kept in one field


def test_non_english_texts_and_string_labels_sorted_as_keras_sorts(tmp_path, capsys):
    data = [(f"Ça coûte très cher, n'est-ce pas ? {i}", "Négatif") for i in range(6)]
    data += [(f"Отличный фильм, очень понравился {i}", "Zufrieden") for i in range(6)]
    data += [(f"とても良い 映画 でした {i}", "ausgezeichnet") for i in range(6)]
    path = write_jsonl(tmp_path / "t.jsonl", data)
    train_and_export(path, tmp_path / "phone")  # the default: MediaPipe's ASCII words, and a line that says so
    assert "not ASCII" in capsys.readouterr().err and "фильм" not in json.loads((tmp_path / "phone" / "vocab.json").read_text())
    task = train_and_export(path, tmp_path / "out", "--num-words", "40", "--tokenizer", "keras")
    assert task["labels"] == sorted(["Négatif", "Zufrieden", "ausgezeichnet"])  # Python's sort, as Keras sorts folders
    vocab = json.loads((tmp_path / "out" / "vocab.json").read_text(encoding="utf-8"))
    assert {"ça", "coûte", "n'est", "отличный", "фильм"} <= set(vocab)
    assert predict_raw(tmp_path / "out", ["Отличный фильм"]).shape == (1, 3)


def bad_inputs(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("text,label\nfine,a\nfine,b\ncaf\xe9,a\n".encode("latin-1"))
    one_class = write_folder(tmp_path / "one", [("some text", "only")] * 3)
    few = write_csv(tmp_path / "few.csv", [("a text", "a"), ("b text", "b"), ("more b", "b"), ("b again", "b")])
    return {
        "not utf-8": ([str(latin1)], r"latin1.csv: line 4 is not UTF-8"),
        "missing column": ([str(write_csv(tmp_path / "cols.csv", rows(1), header=("body", "topic")))],
                           r"no column 'text' or 'label' in the header; the columns found are 'body', 'topic'"),
        "empty text": ([str(write_csv(tmp_path / "e.csv", [("ok", "a"), ("  ", "b")]))], r"e.csv: line 3: the text is empty"),
        "empty label": ([str(write_jsonl(tmp_path / "l.jsonl", [("ok", "a"), ("fine", "")]))], r"l.jsonl: line 2: the label is empty"),
        "class too small": ([str(few)], r"class 'a' \(1\) has fewer than two examples"),
        "one class": ([str(one_class)], r"has only the class 'only'; a classifier needs at least two"),
        "unknown format": ([str(write_csv(tmp_path / "t.xlsx", rows(1)))], r"cannot tell the format from '.xlsx'"),
        "missing file": ([str(tmp_path / "nope.csv")], r"nope.csv does not exist"),
    }


@pytest.mark.stderr
@pytest.mark.parametrize("case", ["not utf-8", "missing column", "empty text", "empty label", "class too small", "one class",
                                  "unknown format", "missing file"])
def test_bad_input_is_one_clear_line_and_status_2(case, tmp_path):
    import re

    args, pattern = bad_inputs(tmp_path)[case]
    command = [sys.executable, "-m", "edgeport.train", "text", "--data", *args, "--out", str(tmp_path / "out"), "--quiet"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr[-1500:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("edgeport-train: ") and re.search(pattern, lines[0]), result.stderr
    assert not (tmp_path / "out").exists()


def test_one_class_with_a_test_file_is_refused_alike_before_and_during_training(tmp_path):
    """The preflight and training ask one function (`texts.check_two_classes`): one message, given before
    the test file is read (here it does not exist)."""
    from edgeport.train import preflight
    from edgeport.train.data import DataError
    from edgeport.train.loop import load_task_data
    from edgeport.train.task_data import UserData
    from edgeport.train.recipes import TEXT

    one_class, missing = write_csv(tmp_path / "one.csv", [("some text", "only")] * 3), tmp_path / "no-test.csv"
    with pytest.raises(DataError) as before:
        preflight.check_text_files(one_class, missing, texts.TextColumns())
    with pytest.raises(DataError) as during:
        load_task_data(TEXT, None, user=UserData(one_class, missing))
    assert str(before.value) == str(during.value)
    assert str(before.value).endswith("one.csv has only the class 'only'; a classifier needs at least two classes")


def varied_strings(n: int, seed: int = 0) -> list[str]:
    """Unicode letters, apostrophes, punctuation runs, tabs, newlines, non-breaking and other spaces, digits."""
    pieces = ["it's", "don't", "'quoted'", "rock'n'roll", "Straße", "İstanbul", "ÉCOLE", "naïve", "日本語", "фильм", "😀",
              "...", "!?!", "--", "(a)", "[b]", "{c}", "x/y", "a\tb", "\n", "\u00a0", "\u2009", "\u3000", "  ", "3.14",
              "1,000", "#tag", "@user", "e-mail", "U.S.", "a_b", "~", "`", "\"", "\\", "ǅ", "ΣΑΣ", "ﬁ", "", "the", "The", "THE"]
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(pieces, rng.integers(0, 25)) + rng.choice(["", " "], 1)) for _ in range(n)]


def plain_ids(strings: list[str], vocabulary: dict[str, int], spec: dict) -> np.ndarray:
    """The pipeline written out plainly: split every word, look each up, then cut and pad as
    `keras.utils.pad_sequences` does (no fast ASCII path, no early cut)."""
    rows = []
    for text in strings:
        words = text_to_word_sequence(text, spec["filters"], spec["lowercase"], spec["split"])
        ids = [spec["start_char"]] + [vocabulary.get(w, spec["oov_char"]) for w in words]
        ids = [i if spec["skip_top"] <= i < spec["num_words"] or i == spec["start_char"] else spec["oov_char"] for i in ids]
        kept = ids[-spec["maxlen"]:] if spec["truncating"] == "pre" else ids[: spec["maxlen"]]
        pad = [0] * (spec["maxlen"] - len(kept))
        rows.append(pad + kept if spec["padding"] == "pre" else kept + pad)
    return np.array(rows, dtype=np.int32)


@pytest.mark.parametrize("maxlen,truncating", [(8, "post"), (30, "pre")])
def test_training_and_runtime_tokenisers_give_identical_ids(maxlen, truncating):
    """Training learns its vocabulary and encodes with the runtime's tokeniser: both equal the plain pipeline."""
    strings = varied_strings(3000)
    vocabulary = texts.learn_vocabulary(strings[:1500], 40)
    spec = texts.text_spec(40, maxlen, truncating)
    ours = texts.encode_texts(strings, vocabulary, spec)
    device = TextPreprocessor(spec, vocabulary)(strings)
    np.testing.assert_array_equal(ours, device)
    np.testing.assert_array_equal(ours, plain_ids(strings, vocabulary, {**TEXT_DEFAULTS, **spec}))
    assert len(vocabulary) == 36 and (ours == 2).any() and (ours > 3).any()  # both known and unknown words occur


def test_vocabulary_reserves_padding_start_and_oov():
    vocabulary = texts.learn_vocabulary(["b a b c b a"], 10)
    assert vocabulary == {"b": 4, "a": 5, "c": 6}
    ids = texts.encode_texts(["a z b"], vocabulary, texts.text_spec(10, 6, "pre"))
    assert ids.tolist() == [[0, 0, 1, 5, 2, 4]]


def test_same_texts_in_any_form_or_order_give_the_same_training_arrays(tmp_path):
    from edgeport.train.loop import load_task_data
    from edgeport.train.task_data import UserData
    from edgeport.train.recipes import TEXT

    data = sorted(rows(), key=lambda r: r[1])  # class by class, as a folder lists them
    test = rows(1)
    recipe = TEXT.with_overrides(num_words=60, maxlen=12)
    folder = load_task_data(recipe, None, user=UserData(write_folder(tmp_path / "f", data), write_folder(tmp_path / "ft", test)))
    shuffled = [data[i] for i in np.random.default_rng(3).permutation(len(data))]
    csv_file = load_task_data(recipe, None, user=UserData(write_csv(tmp_path / "t.csv", shuffled), write_csv(tmp_path / "tt.csv", test)))
    np.testing.assert_array_equal(folder.x_train, csv_file.x_train)
    np.testing.assert_array_equal(folder.y_train, csv_file.y_train)
    assert folder.vocabulary == csv_file.vocabulary
    # the validation cut (the last fifth) holds both classes, though the folder lists them one after the other
    assert set(folder.y_train[-len(folder.y_train) // 5 :].tolist()) == {0, 1}


def test_embedding_has_a_row_per_learned_word_not_per_num_words(tmp_path):
    from edgeport.train.loop import build_model, load_task_data
    from edgeport.train.task_data import UserData
    from edgeport.train.recipes import TEXT

    data = rows()
    learned = {w for text, _ in data for w in text_to_word_sequence(text)}
    recipe = TEXT.with_overrides(maxlen=12, embedding_dim=4, head="average")  # --num-words 10000, the default
    task_data = load_task_data(recipe, None, user=UserData(write_csv(tmp_path / "t.csv", data)))
    rows_needed = len(task_data.vocabulary) + 4  # ids 0 padding, 1 start, 2 out-of-vocabulary, 3 unused, words from 4
    assert len(task_data.vocabulary) <= len(learned) < 100
    assert task_data.preprocessing["num_words"] == rows_needed
    model = build_model(recipe.with_overrides(num_classes=2), task_data, None)
    assert model.get_layer("embedding").input_dim == rows_needed
    capped = load_task_data(recipe.with_overrides(num_words=20), None, user=UserData(write_csv(tmp_path / "c.csv", data)))
    assert capped.preprocessing["num_words"] == 20 and max(capped.vocabulary.values()) == 19


@pytest.mark.parametrize("name, content", [("empty.csv", b""), ("blank.tsv", b"\n \n"), ("bom.jsonl", b"\xef\xbb\xbf")])
def test_an_empty_file_says_it_is_empty(tmp_path, name, content):
    from edgeport.train.data import DataError

    (tmp_path / name).write_bytes(content)
    with pytest.raises(DataError, match=rf"{name}: the file is empty; write a header row") as raised:
        texts.read_texts(tmp_path / name)
    assert "columns found" not in str(raised.value)
