"""tf.distribute: two workers over loopback, mirrored over logical CPUs, resume after a kill."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.train.conftest import write_image_folder, write_text_datasets

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 420  # two TensorFlow processes on a shared 2-core machine


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports on loopback (all held while choosing, so no two are the same)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def train_command(data_dir: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "edgeport.train", "imdb", "--data-dir", str(data_dir), "--out", str(out), "--quiet", *extra]


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CONFIG", "EDGEPORT_DATA_DIR")}
    env.update(TF_CPP_MIN_LOG_LEVEL="2", **extra)
    return env


def run(cmd: list[str], **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, env=environment(**env), capture_output=True, text=True, timeout=TIMEOUT)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return write_text_datasets(tmp_path / "data", n=600)


def test_two_workers_train_like_one_process(data_dir, tmp_path):
    single = run(train_command(data_dir, tmp_path / "single", "--epochs", "4", "--strategy", "default"))
    assert single.returncode == 0, single.stderr[-2000:]

    out = tmp_path / "cluster"
    results = run_cluster(train_command(data_dir, out, "--epochs", "4", "--strategy", "auto"))
    assert [r[0] for r in results] == [0, 0], [r[2][-2000:] for r in results]
    chief_line, other_line = (r[1].strip().splitlines()[-1] for r in results)
    assert "strategy multi-worker, 2 worker(s), 2 replica(s), global batch 32 (16 per replica)" in chief_line
    assert "nothing written (not the chief)" in other_line

    chief = json.loads((out / "keras" / "metrics.json").read_text())
    alone = json.loads((tmp_path / "single" / "keras" / "metrics.json").read_text())
    assert chief["distribution"] == {"strategy": "multi-worker", "workers": 2, "replicas": 2, "input_sharding": "DATA"}
    assert abs(chief["test_accuracy"] - alone["test_accuracy"]) <= 0.05
    assert chief["test_accuracy"] >= 0.8  # the data is learnable: both runs really trained
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    assert files == ["keras", "keras/calibration.npz", "keras/metrics.json", "keras/model.keras", "keras/task.json",
                     "keras/test.npz", "labels.json", "vocab.json"]


def run_cluster(cmd: list[str]) -> list[tuple[int, str, str]]:
    """Run `cmd` as a two-worker cluster on loopback; (exit code, stdout, stderr) per worker."""
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    procs = []
    for index in range(2):
        config = json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})
        procs.append(subprocess.Popen(cmd, cwd=ROOT, env=environment(TF_CONFIG=config), stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    try:
        outputs = [p.communicate(timeout=TIMEOUT) for p in procs]
    finally:
        for p in procs:
            p.kill()
    return [(p.returncode, out, err) for p, (out, err) in zip(procs, outputs)]


def test_image_folder_is_sharded_by_file_across_workers(tmp_path):
    data = write_image_folder(tmp_path / "data" / "pets", {"cats": 8, "dogs": 7})
    out = tmp_path / "pets"
    cmd = [sys.executable, "-m", "edgeport.train", "pets", "--data-dir", str(data.parent), "--out", str(out), "--quiet",
           "--epochs", "1", "--image-size", "32", "--base-weights", "none", "--batch-size", "4"]
    results = run_cluster(cmd)
    assert [r[0] for r in results] == [0, 0], [r[2][-2000:] for r in results]
    metrics = json.loads((out / "keras" / "metrics.json").read_text())
    assert metrics["distribution"]["input_sharding"] == "FILE"
    assert metrics["train_samples"] == 6  # 12 training photos, 6 decoded by each worker
    assert metrics["test_samples"] == 3


def test_mirrored_over_two_logical_cpus(data_dir, tmp_path):
    result = run(train_command(data_dir, tmp_path / "m", "--epochs", "2", "--strategy", "mirrored", "--logical-cpus", "2"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "strategy mirrored, 1 worker(s), 2 replica(s)" in result.stdout
    metrics = json.loads((tmp_path / "m" / "keras" / "metrics.json").read_text())
    assert metrics["distribution"]["replicas"] == 2 and len(metrics["epochs"]["loss"]) == 2


def test_killed_run_resumes_from_its_last_epoch(data_dir, tmp_path):
    out = tmp_path / "resume"
    cmd = train_command(data_dir, out, "--epochs", "400", "--strategy", "default")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metadata = out / "keras" / "backup" / "training_metadata.json"
    deadline = time.monotonic() + TIMEOUT
    while not metadata.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be interrupted"
    assert not (out / "keras" / "model.keras").exists()
    finished = json.loads(metadata.read_text())["epoch"]  # epochs done before the kill
    assert finished >= 1

    again = run(cmd[:-4] + ["--epochs", str(finished + 2), "--strategy", "default"])
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"resuming at epoch {finished + 1}" in again.stdout
    metrics = json.loads((out / "keras" / "metrics.json").read_text())
    assert metrics["first_epoch"] == finished + 1
    assert len(metrics["epochs"]["loss"]) == 2  # only the epochs left were trained
    assert not (out / "keras" / "backup").exists()  # Keras removes the backup once training is done
