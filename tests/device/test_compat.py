"""The compatibility matrix: probes on small bundles, their merging, comparison and markdown."""

from __future__ import annotations

import json
import os
import platform
import shutil
import stat
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from edgeport import runtime
from edgeport.runtime import backends, compat
from edgeport.runtime.compat import matrix
from edgeport.runtime.compat import probe as probing
from edgeport.runtime.manifest import read_manifest

INSTALLED = [e for e in matrix.ENGINES_SHOWN if backends.installed(backends.ENGINES[e])]
TFLITE = next((e for e in INSTALLED if backends.ENGINES[e].format == "tflite"), None)


def probe(**changes) -> matrix.Probe:
    base = matrix.Probe(bundle="b", task="t", variant="tflite-fp32", engine="litert", machine="x86_64", emulation=None,
                        engine_version="2.3.0", status="runs", outputs=[[[0.2, 0.8], [0.9, 0.1]]])
    return replace(base, **changes)


def test_probe_inputs_are_fixed_and_valid(text_binary: Path, image_bundle: Path):
    text = read_manifest(text_binary)
    first = compat.probe_inputs(text, text.artifacts[0])
    again = compat.probe_inputs(text, text.artifacts[-1])  # another variant of the bundle: the same tokens
    assert len(first) == 1 and first[0].shape == (matrix.PROBE_BATCH, text.preprocessing["maxlen"])
    assert first[0].dtype == np.int32 and 0 <= first[0].min() and first[0].max() < text.preprocessing["num_words"]
    np.testing.assert_array_equal(first[0], again[0])
    image = read_manifest(image_bundle)
    int8 = image.artifact("tflite-int8")
    assert int8.inputs[0].dtype == "uint8"  # takes pixels: fed as floats, the runtime feeds their nearest pixels
    pixels = compat.probe_inputs(image, int8)[0]
    assert pixels.shape == (matrix.PROBE_BATCH, 32, 32, 3) and pixels.dtype == np.float32
    assert -1.0 <= pixels.min() and pixels.max() <= 1.0
    np.testing.assert_array_equal(pixels, compat.probe_inputs(image, image.artifact("tflite-fp32"))[0])


def test_tolerance_per_variant(text_topics: Path, image_bundle: Path):
    topics, image = read_manifest(text_topics), read_manifest(image_bundle)
    assert matrix.tolerance(topics.artifact("tflite-fp32")) == matrix.FLOAT_TOLERANCE
    assert matrix.tolerance(topics.artifact("tflite-dynamic-int8")) == 1.0 / 256  # float output
    int8 = image.artifact("tflite-int8")
    assert matrix.tolerance(int8) == pytest.approx(int8.outputs[0].scale)  # one output step


@pytest.mark.skipif(not INSTALLED, reason="no engine installed")
def test_probes_in_children_match_the_runtime_in_process(text_topics: Path, image_bundle: Path):
    probes = compat.probe_here([text_topics, image_bundle], INSTALLED)
    for p in probes:
        if p.engine == "tflite-runtime" and p.variant == "tflite-dynamic-int8":  # 2.14 predates the converter
            assert p.status == "load-fails" and p.reason.startswith("FULLY_CONNECTED version 12"), p
            continue
        assert p.status == "runs", p
        assert p.emulation is None and p.machine and p.engine_version
        manifest = read_manifest(text_topics if p.task == "topics" else image_bundle)
        x = compat.probe_inputs(manifest, manifest.artifact(p.variant))
        model = runtime.load(text_topics if p.task == "topics" else image_bundle, variant=p.variant, backend=p.engine)
        np.testing.assert_array_equal(np.asarray(p.outputs[0], dtype=np.float32), model.predict_tensor(x[0]))
    by_key = {(p.task, p.variant): p for p in probes}
    if TFLITE and "onnxruntime" in INSTALLED:  # two exports of one Keras model agree as float variants do
        ok, diff, same = matrix.agreement(by_key["topics", "tflite-fp32"], by_key["topics", "onnx-fp32"])
        assert ok and same and diff < 1e-5


def test_a_crashing_engine_costs_one_cell(text_binary: Path, tmp_path: Path, monkeypatch):
    """A child that dies by a signal after one probe: that probe is kept, the next is "crashed",
    and the rest are probed by a new child."""
    wrapper = tmp_path / "crashing-python"
    wrapper.write_text(f"""#!{sys.executable}
import json, os, signal, subprocess, sys
jobs = json.load(sys.stdin)
done = subprocess.run([{sys.executable!r}, *sys.argv[1:]], input=json.dumps(jobs[:1]), capture_output=True, text=True)
sys.stdout.write(done.stdout)
sys.stdout.flush()
os.kill(os.getpid(), signal.SIGSEGV)
""")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(probing.sys, "executable", str(wrapper))
    engine = TFLITE or "onnxruntime"
    if not backends.installed(backends.ENGINES[engine]):
        pytest.skip("no engine installed")
    variant = next(a.key for a in read_manifest(text_binary).artifacts if a.format == backends.ENGINES[engine].format)
    jobs = [(str(text_binary), variant)] * 3
    probes = probing.probe_in_children(engine, jobs)
    assert [p.status for p in probes] == ["runs", "crashed", "runs"]
    assert "signal 11" in probes[1].reason and probes[1].variant == variant


def test_matrix_cells_and_markdown():
    reference = probe()
    probes = [
        reference,
        probe(machine="aarch64", emulation="qemu-user cortex-a72", outputs=[[[0.200001, 0.799999], [0.9, 0.1]]]),
        probe(engine="tflite-runtime", engine_version="2.14.0", outputs=[[[0.2, 0.8], [0.9, 0.1]]]),
        probe(engine="tflite-runtime", machine="aarch64", emulation="qemu-user cortex-a72", engine_version="2.14.0",
              outputs=[[[0.3, 0.7], [0.9, 0.1]]]),
        probe(variant="tflite-dynamic-int8", tolerance=1 / 256),
        probe(variant="tflite-dynamic-int8", engine="tflite-runtime", engine_version="2.14.0", status="load-fails",
              reason="FULLY_CONNECTED version 12: no kernel in this engine", outputs=None),
        probe(variant="onnx-fp32", engine="onnxruntime", engine_version="1.32.0"),
        probe(bundle="other"),
    ]
    md = matrix.render_markdown(probes, "b")
    rows = {line.split(" | ")[0].strip("| "): line for line in md.splitlines() if line.startswith("| ")}
    header = rows["variant"]
    assert "LiteRT 2.3.0, x86-64" in header and "LiteRT 2.3.0, arm64 (emulated)" in header
    assert "tflite-runtime 2.14.0, arm64 (emulated)" in header and "onnxruntime 1.32.0, x86-64" in header
    assert header.count("|") == 7  # 5 columns with a probe; none for onnxruntime on arm64, nor for "other"
    cells = [c.strip() for c in rows["tflite-fp32"].strip("|").split("|")][1:]
    assert cells[0] == "✓ reference" and cells[1].startswith("✓ Δ 1.0e-06")
    assert cells[2] == "✓ identical" and cells[3].startswith("≠ Δ 1.0e-01 > 1.0e-05, same classes")
    assert cells[4] == "·"
    assert "✗ FULLY_CONNECTED version 12" in rows["tflite-dynamic-int8"]
    assert "not probed" in rows["tflite-dynamic-int8"]  # no arm64 probe of it
    assert "emulated" in md and "timings are not" in md


def test_class_changes_and_shape_changes_do_not_match():
    a = probe(outputs=[[[0.499], [0.9]]], tolerance=1 / 256)
    b = probe(outputs=[[[0.501], [0.9]]], tolerance=1 / 256)
    ok, diff, same = matrix.agreement(a, b)
    assert not ok and not same and diff == pytest.approx(0.002)
    assert matrix.agreement(a, probe(outputs=[[[0.5, 0.5]]]))[0] is False


def test_machine_differences_and_probe_files(tmp_path: Path):
    arm = dict(machine="aarch64", emulation="qemu-user cortex-a72")
    probes = [probe(), probe(**arm, outputs=[[[0.2, 0.8], [0.9, 0.1]]]),
              probe(variant="tflite-int8"), probe(variant="tflite-int8", status="crashed", reason="signal 11", **arm),
              probe(engine="onnxruntime", variant="onnx-fp32"),
              probe(engine="onnxruntime", variant="onnx-fp32", status="not-installed", outputs=None, **arm)]
    matrix.save_probes(probes[:2], tmp_path / "a.json")
    matrix.save_probes([replace(probes[1], outputs=[[[0.0, 1.0], [0.9, 0.1]]])] + probes[2:], tmp_path / "b.json")
    merged = matrix.load_probes([tmp_path / "a.json", tmp_path / "b.json"])
    assert len(merged) == 6  # the later file's arm64 tflite-fp32 replaced the earlier one
    rows = {(d["variant"], d["machine"]): d for d in matrix.machine_differences(merged)}
    assert rows["tflite-fp32", "arm64 (emulated)"]["ok"] is False  # 0.2 → 0.0
    assert rows["tflite-int8", "arm64 (emulated)"]["status"] == "crashed"
    rows = matrix.machine_differences(probes)
    assert [d["ok"] for d in rows] == [True, False] and rows[1]["reason"] == "signal 11"


def test_report_section_is_replaced_not_repeated(text_binary: Path, tmp_path: Path):
    bundle = tmp_path / "bundle"
    shutil.copytree(text_binary, bundle)
    (bundle / "report.md").write_text("# sentiment\n\nexport's own text\n")
    matrix.write_report_section(bundle, "## Compatibility\n\nfirst\n")
    matrix.write_report_section(bundle, "## Compatibility\n\nsecond\n")
    text = (bundle / "report.md").read_text()
    assert text.startswith("# sentiment\n\nexport's own text\n")
    assert text.count(matrix.SECTION_START) == 1 and "second" in text and "first" not in text


@pytest.mark.skipif(not INSTALLED, reason="no engine installed")
def test_runnable_variants_lists_what_loads_here(text_topics: Path):
    found = dict(compat.runnable_variants(text_topics))
    if "litert" in INSTALLED:
        assert found["tflite-dynamic-int8"] == "litert" and found["tflite-fp32"] == "litert"
    if "onnxruntime" in INSTALLED:
        assert found["onnx-fp32"] == "onnxruntime"
    assert "tflite-fp32" not in dict(compat.runnable_variants(text_topics, exclude=["tflite-fp32"]))
    if "onnxruntime" in INSTALLED and TFLITE:
        text = compat.alternatives_text(text_topics, exclude=["tflite-dynamic-int8"])
        assert text.startswith("variants that run here: ") and f"tflite-fp32 ({TFLITE})" in text
        assert "onnx-fp32 (onnxruntime)" in text


def test_emulation_label(monkeypatch):
    monkeypatch.setenv("EDGEPORT_EMULATION", "qemu-user cortex-a72")
    assert compat.emulation() == "qemu-user cortex-a72"
    monkeypatch.delenv("EDGEPORT_EMULATION")
    assert compat.emulation() is None or platform.machine() != "x86_64"


def test_cli_saves_and_merges(text_binary: Path, tmp_path: Path):
    saved = tmp_path / "here.json"
    assert compat.main([str(text_binary), "--engines", ",".join(INSTALLED) or "onnxruntime", "--save", str(saved)]) == 0
    doc = json.loads(saved.read_text())
    assert {p["variant"] for p in doc["probes"]} <= {a.key for a in read_manifest(text_binary).artifacts}
    assert os.path.getsize(saved) > 0
