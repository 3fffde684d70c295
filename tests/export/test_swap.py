"""A re-export (and a training run over an exported bundle) killed with SIGKILL at any step leaves the
bundle complete: the old one or the new one, never neither, never a mix."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from edgeport import runtime
from edgeport.export.bundle import export_bundle
from edgeport.export.job import ExportOptions
from edgeport.runtime.manifest import read_manifest
from edgeport.runtime.staging import staged_bundle

from .conftest import CALIBRATION_SAMPLES

REPO = Path(__file__).resolve().parents[2]
OLD_VARIANTS, NEW_VARIANTS = ["tflite-fp32", "tflite-fp16"], ["tflite-fp32", "tflite-dynamic-int8"]

# Runs one writer in a fresh process and SIGKILLs it at its KILL_AT-th step: a step is just before and
# just after every rename, hard link or directory exchange. KILL_AT=0 runs to the end and prints the
# number of steps.
KILLER = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    from edgeport.runtime import staging
    kill_at, steps = int(os.environ["KILL_AT"]), [0]

    def step():
        steps[0] += 1
        if steps[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    def counted(real):
        def call(*args, **kwargs):
            step()
            result = real(*args, **kwargs)
            step()
            return result
        return call

    os.replace, os.rename, os.link = counted(os.replace), counted(os.rename), counted(os.link)
    staging.exchange = counted(staging.exchange)
    exec(sys.argv[1])
    print("STEPS", steps[0])
""")

EXPORT = textwrap.dedent("""
    from types import SimpleNamespace
    from edgeport.export.bundle import export_bundle
    from edgeport.export.job import ExportOptions
    data = SimpleNamespace(**dict(np.load(sys.argv[3])))
    export_bundle(sys.argv[2], ExportOptions(variants=sys.argv[4].split(","), calibration_samples=64,
                  measure_latency=False), task_data=data)
""")

TRAIN = textwrap.dedent("""
    import keras
    from edgeport.train.loop import write_outputs
    from tests.export.conftest import SMALL_RECIPES, text_task
    recipe = SMALL_RECIPES["imdb"]
    model = keras.models.load_model(sys.argv[2] + "/keras/model.keras", compile=False)
    write_outputs(__import__("pathlib").Path(sys.argv[2]), model, recipe, text_task(recipe), {"seed": 0, "run": "new"})
""")


def run_killed(code: str, kill_at: int, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "KILL_AT": str(kill_at), "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-c", KILLER, code, *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=600)


def spread(total: int, count: int) -> list[int]:
    return sorted({int(round(v)) for v in np.linspace(1, total, count)})


def siblings(bundle: Path) -> list[str]:
    return sorted(p.name for p in bundle.parent.iterdir() if p.name.startswith(f".{bundle.name}."))


def test_staged_bundle_swaps_whole_and_an_exception_leaves_the_old(tmp_path):
    bundle = tmp_path / "b"
    bundle.mkdir()
    (bundle / "a.txt").write_text("old")
    (bundle / "drop.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with staged_bundle(bundle) as stage:
            (stage / "a.txt").unlink()
            (stage / "a.txt").write_text("new")
            raise RuntimeError("interrupted")
    assert (bundle / "a.txt").read_text() == "old" and siblings(bundle) == []
    with staged_bundle(bundle, keep=lambda rel: rel != "drop.txt") as stage:
        assert sorted(p.name for p in stage.iterdir()) == ["a.txt"]
        os.replace(_write(stage / ".t", "new"), stage / "a.txt")
    assert (bundle / "a.txt").read_text() == "new" and not (bundle / "drop.txt").exists() and siblings(bundle) == []
    with staged_bundle(tmp_path / "fresh") as stage:
        _write(stage / "f", "1")
    assert (tmp_path / "fresh" / "f").read_text() == "1"


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_a_dead_runs_staging_directory_is_removed_by_the_next(tmp_path):
    bundle = tmp_path / "b"
    bundle.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".b.staging-{dead.stdout.strip()}-abc"
    stale.mkdir()
    (stale / "half").write_text("x")
    live = tmp_path / f".b.staging-{os.getppid()}-abc"  # a running process's: left alone
    live.mkdir()
    with staged_bundle(bundle):
        pass
    assert not stale.exists() and live.exists()


def check_old_or_new(bundle: Path, old: dict, new: dict) -> str:
    """Which complete bundle `bundle` is; fails when it is neither or a mix."""
    manifest = read_manifest(bundle)
    state = {a.key: a.sha256 for a in manifest.artifacts}
    assert state in (old, new), (state, old, new)
    for key in state:
        runtime.load(bundle, variant=key)  # every listed file verifies
    return "old" if state == old else "new"


def test_reexport_killed_at_any_step_leaves_the_old_or_the_new_bundle(small_imdb, tmp_path):
    bundle, data = small_imdb
    export_bundle(bundle,
                  ExportOptions(variants=OLD_VARIANTS, calibration_samples=CALIBRATION_SAMPLES, measure_latency=False), task_data=data)
    old = {a.key: a.sha256 for a in read_manifest(bundle).artifacts}
    saved = tmp_path / "data.npz"
    np.savez(saved, x_train=data.x_train, x_test=data.x_test, y_test=data.y_test)
    pristine = tmp_path / "pristine"
    os.system(f"cp -a {bundle} {pristine}")
    whole = run_killed(EXPORT, 0, bundle, saved, ",".join(NEW_VARIANTS))
    assert whole.returncode == 0, whole.stderr[-3000:]
    total = int(whole.stdout.split("STEPS")[-1])
    new = {a.key: a.sha256 for a in read_manifest(bundle).artifacts}
    assert set(new) == {"tflite-fp32", "tflite-fp16", "tflite-dynamic-int8"} and total >= 12
    seen = []
    for kill_at in spread(total, 10):
        os.system(f"rm -rf {bundle} && cp -a {pristine} {bundle}")
        killed = run_killed(EXPORT, kill_at, bundle, saved, ",".join(NEW_VARIANTS))
        assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
        seen.append(check_old_or_new(bundle, old, new))
    assert seen[0] == "old" and seen[-1] == "new" and len(seen) >= 10
    # the next run removes what a killed one left beside the bundle, and completes
    assert run_killed(EXPORT, 0, bundle, saved, ",".join(NEW_VARIANTS)).returncode == 0
    assert siblings(bundle) == [] and check_old_or_new(bundle, old, new) == "new"


def test_training_killed_at_any_step_over_an_exported_bundle_leaves_the_old_or_the_new(small_imdb, tmp_path):
    bundle, data = small_imdb
    export_bundle(bundle,
                  ExportOptions(variants=["tflite-fp32"], calibration_samples=CALIBRATION_SAMPLES, measure_latency=False), task_data=data)
    old = {a.key: a.sha256 for a in read_manifest(bundle).artifacts}
    pristine = tmp_path / "pristine"
    os.system(f"cp -a {bundle} {pristine}")
    whole = run_killed(TRAIN, 0, bundle)
    assert whole.returncode == 0, whole.stderr[-3000:]
    total = int(whole.stdout.split("STEPS")[-1])
    seen = []
    for kill_at in spread(total, 10):
        os.system(f"rm -rf {bundle} && cp -a {pristine} {bundle}")
        killed = run_killed(TRAIN, kill_at, bundle)
        assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
        metrics = json.loads((bundle / "keras" / "metrics.json").read_text())
        if (bundle / "manifest.json").exists():  # the old, exported bundle, whole
            assert metrics.get("run") != "new"
            seen.append(check_old_or_new(bundle, old, old))
        else:  # the new trained bundle, whole: ready to export
            assert metrics.get("run") == "new" and (bundle / "keras" / "task.json").is_file()
            seen.append("new")
    assert seen[0] == "old" and seen[-1] == "new" and len(seen) >= 10
