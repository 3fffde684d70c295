"""End to end: `edgeport-train` on small data the test makes, and on the real data when present."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from tests.train.conftest import write_image_folder
from edgeport.train import cli
from edgeport.train.data import DATA_DIR_ENV
from edgeport.train.int8_grid import on_int8_grid, output_channel_axis


PETS_BAR = 0.85  # 34 of the 39 held-out photos


def read_outputs(out):
    metrics = json.loads((out / "keras" / "metrics.json").read_text())
    task = json.loads((out / "keras" / "task.json").read_text())
    model = keras.models.load_model(out / "keras" / "model.keras")
    return metrics, task, model


@pytest.mark.parametrize("task", ["imdb", "reuters"])
def test_text_task_trains_end_to_end(task, text_data_dir, tmp_path, capsys):
    out = tmp_path / task
    assert cli.main([task, "--data-dir", str(text_data_dir), "--out", str(out), "--epochs", "2", "--quiet"]) == 0
    metrics, spec, model = read_outputs(out)
    assert len(metrics["epochs"]["accuracy"]) == 2 and len(metrics["epochs"]["test_accuracy"]) == 2
    assert len(metrics["epochs"]["val_accuracy"]) == 2
    assert 0.0 <= metrics["test_accuracy"] <= 1.0 and metrics["test_samples"] == {"imdb": 60, "reuters": 24}[task]
    assert metrics["versions"]["keras"] == keras.__version__ and metrics["recipe"]["task"] == task
    assert spec["preprocessing"]["maxlen"] == model.input_shape[1]
    vocab = json.loads((out / "vocab.json").read_text())
    assert vocab["the"] == 4 and all(i < spec["preprocessing"]["num_words"] for i in vocab.values())
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith(f"{task}: test accuracy ") and str(out) in line


@pytest.mark.parametrize("task", ["imdb", "pets"])
def test_seeded_runs_repeat(task, text_data_dir, tmp_path):
    write_image_folder(text_data_dir / "pets", {"cats": 6, "dogs": 6})
    image = ["--image-size", "32", "--base-weights", "none", "--batch-size", "4"] if task == "pets" else []
    runs = []
    for name in ("a", "b"):
        out = tmp_path / name
        args = [task, "--data-dir", str(text_data_dir), "--out", str(out), "--epochs", "2", "--quiet", "--seed", "4"]
        assert cli.main(args + image) == 0
        runs.append(read_outputs(out)[2].get_weights())
    assert len(runs[0]) == len(runs[1]) > 0
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)  # bit for bit: the same seed gives the same weights


def test_progress_is_one_line_per_epoch_when_not_a_terminal(text_data_dir, tmp_path, capsys):
    assert cli.main(["imdb", "--data-dir", str(text_data_dir), "--out", str(tmp_path / "o"), "--epochs", "3"]) == 0
    out = capsys.readouterr().out
    assert "\b" not in out and "\r" not in out  # no progress bar redrawn in place
    lines = out.strip().splitlines()
    assert [line for line in lines if line.startswith("Epoch ")] == ["Epoch 1/3", "Epoch 2/3", "Epoch 3/3"]
    assert len(lines) == 2 * 3 + 1  # "Epoch i/n", its one line of figures, and the summary line
    assert all("loss: " in lines[i] for i in (1, 3, 5))


def test_image_task_trains_end_to_end(tmp_path, capsys):
    data_dir = tmp_path / "data"
    write_image_folder(data_dir / "pets", {"cats": 6, "dogs": 5, "horses": 5})
    out = tmp_path / "pets"
    args = ["pets", "--data-dir", str(data_dir), "--out", str(out), "--epochs", "1", "--quiet"]
    assert cli.main(args + ["--alpha", "0.25", "--image-size", "32", "--base-weights", "none"]) == 0
    metrics, spec, model = read_outputs(out)
    assert json.loads((out / "labels.json").read_text()) == ["cats", "dogs", "horses"]
    assert metrics["test_samples"] == 3 and len(metrics["test_files"]) == 3  # a stratified fifth
    assert spec["preprocessing"] == {
        "type": "image", "size": [32, 32], "interpolation": "bilinear", "color_mode": "rgb", "normalization": "mobilenet"
    }
    assert model.output_shape == (None, 3)
    # the last step put every kernel on its int8 grid, after two more epochs of the head (the recipe's default)
    for layer in model.layers:
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense)):
            kernel = layer.get_weights()[0]
            np.testing.assert_array_equal(on_int8_grid(kernel, output_channel_axis(layer)), kernel, err_msg=layer.name)
    assert metrics["int8_grid"]["head_refit_epochs"] == 2 and 0 <= metrics["int8_grid"]["float_test_accuracy"] <= 1
    assert "+ 2 of the head on the int8-grid body" in capsys.readouterr().out


def test_int8_refit_epochs_zero_leaves_the_weights_as_trained(tmp_path):
    data_dir = write_image_folder(tmp_path / "data" / "pets", {"cats": 4, "dogs": 4}).parent
    out = tmp_path / "pets"
    args = ["pets", "--data-dir", str(data_dir), "--out", str(out), "--epochs", "1", "--quiet", "--image-size", "32",
            "--base-weights", "none", "--int8-refit-epochs", "0"]
    assert cli.main(args) == 0
    metrics, _, model = read_outputs(out)
    kernel = model.get_layer("conv_pw_1").get_weights()[0]
    assert "int8_grid" not in metrics and not np.array_equal(on_int8_grid(kernel, -1), kernel)


def test_int8_refit_epochs_is_for_image_tasks(tmp_path, capsys):
    assert cli.main(["imdb", "--out", str(tmp_path / "o"), "--int8-refit-epochs", "1"]) == 2
    assert "--int8-refit-epochs apply to image tasks" in capsys.readouterr().err
    assert cli.main(["pets", "--out", str(tmp_path / "o"), "--int8-refit-epochs", "-1"]) == 2
    assert "must be 0 or more" in capsys.readouterr().err


def test_missing_data_is_one_line_not_a_traceback(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    assert cli.main(["reuters", "--data-dir", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("edgeport-train: data directory") and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_missing_imagenet_weights_offline_names_the_file(tmp_path, capsys, monkeypatch):
    urls = []

    def offline(fname, origin, **kwargs):
        urls.append(origin)
        raise OSError("URL fetch failure: no network")

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    monkeypatch.setattr(keras.utils, "get_file", offline)
    data_dir = write_image_folder(tmp_path / "data", {"cats": 3, "dogs": 3})
    args = ["pets", "--data-dir", str(data_dir), "--out", str(tmp_path / "o"), "--alpha", "0.5", "--image-size", "32"]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert "mobilenet_5_0_32_tf_no_top.h5" in err and "weights/" in err and "--base-weights none" in err
    assert urls == ["https://storage.googleapis.com/tensorflow/keras-applications/mobilenet/mobilenet_5_0_32_tf_no_top.h5"]


def test_a_model_error_after_the_weights_are_found_keeps_its_own_message(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("layer conv1 got an input of the wrong rank")

    data_dir = write_image_folder(tmp_path / "data" / "pets", {"cats": 3, "dogs": 3}).parent
    (data_dir / "weights").mkdir()
    (data_dir / "weights" / "mobilenet_5_0_32_tf_no_top.h5").write_bytes(b"found")  # found locally: no download
    monkeypatch.setattr(keras.applications, "MobileNet", broken)
    args = ["pets", "--data-dir", str(data_dir), "--out", str(tmp_path / "o"), "--alpha", "0.5", "--image-size", "32"]
    with pytest.raises(ValueError) as raised:
        cli.main(args)
    assert type(raised.value) is ValueError and str(raised.value) == "layer conv1 got an input of the wrong rank"


def test_image_options_are_refused_for_text_tasks(capsys):
    assert cli.main(["imdb", "--alpha", "0.5"]) == 2
    assert "apply to image tasks" in capsys.readouterr().err


@pytest.mark.parametrize("task", ["imdb", "reuters", "image"])
def test_tokenizer_is_for_a_users_texts_only(task, capsys):
    assert cli.main([task, "--tokenizer", "keras", "--data", "x"]) == 2
    assert "--tokenizer applies to your own texts" in capsys.readouterr().err


@pytest.mark.realdata
@pytest.mark.slow
def test_real_imdb_trains_to_the_expected_accuracy(shared_data_dir, tmp_path):
    out = tmp_path / "imdb"
    assert cli.main(["imdb", "--data-dir", str(shared_data_dir), "--out", str(out), "--quiet"]) == 0
    metrics, _, _ = read_outputs(out)
    assert metrics["vocabulary_in_data"] == 500
    assert 0.6 <= metrics["test_accuracy"] <= 0.8  # 500-word subset: far from the published full-IMDB figure


@pytest.mark.realdata
@pytest.mark.slow
def test_real_pets_transfer_learning_reaches_the_bar(shared_data_dir, tmp_path):
    out = tmp_path / "pets"
    assert cli.main(["pets", "--data-dir", str(shared_data_dir), "--out", str(out), "--quiet"]) == 0
    metrics, _, _ = read_outputs(out)
    assert metrics["test_samples"] == 39 and metrics["recipe"]["alpha"] == 0.25
    # The product's bar (docs/training.md, "Results on the shared data"), not one machine's count: oneDNN's
    # kernels (on by default with AVX-512) round differently, so a CPU class trains to other photos.
    assert metrics["test_accuracy"] >= PETS_BAR


def test_a_malformed_cluster_description_is_one_clear_line(text_data_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TF_CONFIG", "{not json")
    args = ["imdb", "--data-dir", str(text_data_dir), "--out", str(tmp_path / "o"), "--strategy", "multi-worker"]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("edgeport-train: TF_CONFIG is not valid JSON") and "Training on several machines" in err


def quiet_environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "GRPC_VERBOSITY", "EDGEPORT_DATA_DIR")}
    env.update(extra)
    return env


@pytest.mark.stderr
def test_tensorflow_start_up_lines_stay_off_stderr(text_data_dir, tmp_path):
    cmd = [sys.executable, "-m", "edgeport.train", "imdb", "--data-dir", str(text_data_dir), "--out", str(tmp_path / "o"),
           "--epochs", "1", "--quiet"]
    done = subprocess.run(cmd, env=quiet_environment(), capture_output=True, text=True, timeout=240)
    assert done.returncode == 0 and done.stdout.startswith("imdb: test accuracy ")
    assert done.stderr == ""


def test_a_logging_level_the_user_set_is_kept():
    show = "import os, edgeport.train.cli; print(os.environ['TF_CPP_MIN_LOG_LEVEL'], os.environ['GRPC_VERBOSITY'])"
    default = subprocess.run([sys.executable, "-c", show], env=quiet_environment(), capture_output=True, text=True)
    chosen = subprocess.run([sys.executable, "-c", show], env=quiet_environment(TF_CPP_MIN_LOG_LEVEL="0"), capture_output=True, text=True)
    assert (default.stdout.split(), chosen.stdout.split()) == (["2", "ERROR"], ["0", "ERROR"])


def test_the_progress_bar_is_kept_for_a_terminal():
    from edgeport.train.loop import fit_verbosity

    class Stream:
        def __init__(self, tty: bool):
            self.tty = tty

        def isatty(self) -> bool:
            return self.tty

    assert [fit_verbosity("auto", Stream(True)), fit_verbosity("auto", Stream(False)), fit_verbosity(0, Stream(True))] == [1, 2, 0]


@pytest.mark.parametrize("args", [["text", "--data", "missing.csv"], ["image", "--data", "."], ["pets", "--data-dir", "nope"],
                                  ["pets", "--base-weights", "nope.h5"], ["imdb", "--alpha", "0.5"]])
def test_a_bad_argument_is_answered_before_tensorflow_is_imported(args, tmp_path):
    program = ("import sys\nfrom edgeport.train import cli\n"
               f"code = cli.main({args + ['--out', str(tmp_path / 'o')]!r})\n"
               "print(code, 'tensorflow' in sys.modules, 'keras' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", program], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["2", "False", "False"], done.stderr
    assert done.stderr.startswith("edgeport-train: ") and done.stderr.count("\n") == 1


@pytest.mark.stderr
def test_importing_the_training_library_prints_nothing():
    program = "import edgeport.train.loop, edgeport.export.tflite, tensorflow"
    done = subprocess.run([sys.executable, "-c", program], env=quiet_environment(), capture_output=True, text=True, timeout=240)
    assert done.returncode == 0 and done.stderr == ""
