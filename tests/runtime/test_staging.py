"""Loads racing a writer that swaps whole bundles in (`runtime/staging.py`) always find a complete bundle."""

from __future__ import annotations

import json
import os
import shutil
import threading

from edgeport import runtime
from edgeport.runtime import staging
from tests.runtime.conftest import write_manifest_doc


def test_loads_during_repeated_swaps_always_find_a_whole_bundle(text_binary, tmp_path, monkeypatch):
    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(text_binary, a)
    shutil.copytree(text_binary, b)
    doc = json.loads((b / "manifest.json").read_text())
    doc["artifacts"] = [x for x in doc["artifacts"] if x["format"] == "tflite"]
    write_manifest_doc(b, doc)
    bundle = tmp_path / "live"
    shutil.copytree(a, bundle)
    sources = {len(json.loads((s / "manifest.json").read_text())["artifacts"]): s for s in (a, b)}
    stop, seen, failures = threading.Event(), [], []

    def reader() -> None:
        while not stop.is_set():
            try:
                seen.append(len(runtime.load(bundle, variant="tflite-fp32").manifest.artifacts))
            except Exception as exc:  # noqa: BLE001 — any failure is what this test looks for
                failures.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for thread in threads:
        thread.start()
    swaps = 0
    try:
        for exchange in (staging.exchange, lambda x, y: False):  # renameat2, then the two-rename fallback
            monkeypatch.setattr(staging, "exchange", exchange)
            for i in range(25):
                source = (a, b)[i % 2]
                with staging.staged_bundle(bundle, keep=lambda rel: False) as stage:
                    for item in source.iterdir():  # the whole bundle, golden/ included
                        if item.is_dir():  # staging made the directory already (empty: nothing kept)
                            shutil.copytree(item, stage / item.name, dirs_exist_ok=True)
                        else:
                            shutil.copy2(item, stage / item.name)
                swaps += 1
    finally:  # the readers stop whatever happened here
        stop.set()
        for thread in threads:
            thread.join()
    assert failures == [] and swaps == 50
    assert set(seen) == set(sources) and len(seen) > 10
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert os.path.isdir(bundle)
