"""Which variant of a bundle runs on which engine and machine, and whether it gives the same answers.

A *probe* loads one variant on one engine and runs it on fixed inputs made from the manifest
(`probe_inputs`: seeded token ids or pixels, the same on every machine). Probes keep their outputs,
so probes made in different places — the workstation's .venv (LiteRT, onnxruntime), the device venv
(tflite-runtime 2.14), an emulated Raspberry Pi — merge into one matrix:

    python -m edgeport.runtime.compat artifacts/imdb --save probes-x86.json            # every engine here
    python -m edgeport.runtime.compat artifacts/imdb --no-probe --probes probes-*.json --write-report

`probe_here` runs each engine's probes in a child process: an engine that crashes on a model gives a
"crashed" cell, not a crashed run. `runtime.compat.matrix` compares probes and renders the matrix.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import platform
import re
import subprocess
import sys
import time
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from edgeport.runtime import backends
from edgeport.runtime.errors import EdgeportError, MissingBundleError
from edgeport.runtime.compat.matrix import (
    ENGINES_SHOWN, PROBE_BATCH, Probe, load_probes, merge_probes, render_markdown, save_probes, tolerance,
    write_report_section,
)
from edgeport.runtime.manifest import Artifact, Manifest, read_manifest
from edgeport.runtime.preprocess import ImagePreprocessor

DISTRIBUTIONS = {"litert": ("ai-edge-litert",), "tflite-runtime": ("tflite-runtime",),
                 "onnxruntime": ("onnxruntime",), "tf-lite": ("tensorflow", "tensorflow-cpu")}
SEED = 20240
CHILD_TIMEOUT_S = 1800
MARK = "EDGEPORT-PROBE "


def emulation() -> str | None:
    """How this machine is emulated ("qemu-user cortex-a72"), or None on real hardware. The device
    scripts set $EDGEPORT_EMULATION; otherwise an ARM machine reporting an x86 CPU is QEMU user mode."""
    if os.environ.get("EDGEPORT_EMULATION"):
        return os.environ["EDGEPORT_EMULATION"]
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return None
    arm = platform.machine().startswith(("aarch64", "arm"))
    if "emulated by QEMU" in cpuinfo or (arm and re.search(r"GenuineIntel|AuthenticAMD", cpuinfo)):
        return "qemu-user"
    return None


def engine_version(engine: str) -> str | None:
    for name in DISTRIBUTIONS.get(engine, ()):
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def probe_inputs(manifest: Manifest, artifact: Artifact, batch: int = PROBE_BATCH) -> list[np.ndarray]:
    """Fixed inputs for an artifact: token ids below num_words for text; for images, uniform random pixels
    normalised by the bundle's preprocessing (the same for every variant: one that takes pixels is fed them
    back); uniform [-1, 1] floats otherwise (quantised inputs are fed as floats; the runtime quantises them)."""
    rng = np.random.default_rng(SEED)
    pre = manifest.preprocessing or {}
    arrays = []
    for spec in artifact.inputs:
        free = [pre.get("maxlen")] + list(pre.get("size") or []) + [3]
        shape = [batch if i == 0 else d if d else int(free[i - 1] or 1) for i, d in enumerate(spec.shape)]
        if manifest.kind == "image" and len(artifact.inputs) == 1 and shape[-1:] == [3]:
            pixels = rng.integers(0, 256, shape).astype(np.uint8)
            arrays.append(ImagePreprocessor(dict(pre)).normalized(pixels))
        elif manifest.kind == "text" or (np.dtype(spec.dtype).kind in "iu" and not spec.quantized):
            arrays.append(rng.integers(0, int(pre.get("num_words") or 10), shape).astype(np.int32))
        else:
            arrays.append(rng.uniform(-1.0, 1.0, shape).astype(np.float32))
    return arrays


def short_reason(exc: BaseException) -> str:
    """The part of an error a matrix cell can show: the operator an engine lacks, else the message."""
    text = " ".join(str(exc).split())
    op = re.search(r"operator (\w+) version (\d+)", text)
    if op:
        return f"{op[1]} version {op[2]}: no kernel in this engine"
    return text if len(text) <= 160 else text[:157] + "..."


def probe_variant(bundle: str | os.PathLike, variant: str, engine: str) -> Probe:
    """Load `variant` of `bundle` on `engine` here (in this process) and run it on `probe_inputs`."""
    from edgeport import runtime

    manifest = read_manifest(bundle)
    artifact = manifest.artifact(variant)
    x = probe_inputs(manifest, artifact)
    digest = hashlib.sha256(b"".join(a.tobytes() for a in x)).hexdigest()[:16]
    base = dict(bundle=Path(bundle).resolve().name, task=manifest.task, variant=artifact.key, engine=engine,
                machine=platform.machine(), emulation=emulation(), engine_version=engine_version(engine),
                tolerance=tolerance(artifact), inputs_sha256=digest)
    if not backends.installed(backends.ENGINES[engine]):
        return Probe(**base, status="not-installed", reason=backends.ENGINES[engine].install)
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = runtime.load(bundle, variant=artifact.key, backend=engine, threads=1)
    except EdgeportError as exc:
        return Probe(**base, status="load-fails", reason=short_reason(exc))
    try:
        y = model.predict_tensor(x[0] if len(x) == 1 else x)
    except EdgeportError as exc:
        return Probe(**base, status="run-fails", reason=short_reason(exc))
    outputs = [np.asarray(v).tolist() for v in (y.values() if isinstance(y, dict) else [y])]
    return Probe(**base, status="runs", outputs=outputs, seconds=round(time.perf_counter() - start, 4))


def probe_here(bundles: Sequence[str | os.PathLike], engines: Iterable[str] = ENGINES_SHOWN,
               isolate: bool = True) -> list[Probe]:
    """Every variant of every bundle on every engine in `engines` that runs its format, on this
    machine. With `isolate`, each engine's probes run in a child process (a crash costs one cell)."""
    probes: list[Probe] = []
    for engine in engines:
        fmt = backends.ENGINES[engine].format
        jobs = [(str(b), a.key) for b in bundles for a in read_manifest(b).artifacts if a.format == fmt]
        if not isolate or not backends.installed(backends.ENGINES[engine]):
            probes += [probe_variant(b, v, engine) for b, v in jobs]
        else:
            probes += probe_in_children(engine, jobs)
    return probes


def probe_in_children(engine: str, jobs: list[tuple[str, str]]) -> list[Probe]:
    probes: list[Probe] = []
    while jobs:
        command = [sys.executable, "-m", "edgeport.runtime.compat", "--child", engine]
        try:
            done = subprocess.run(command, input=json.dumps(jobs), capture_output=True, text=True,
                                  timeout=CHILD_TIMEOUT_S)
            stdout, code, err = done.stdout, done.returncode, done.stderr
        except subprocess.TimeoutExpired as exc:
            stdout, code, err = exc.stdout or "", None, ""
            stdout = stdout.decode() if isinstance(stdout, bytes) else stdout
        got = [Probe(**json.loads(line[len(MARK):])) for line in stdout.splitlines() if line.startswith(MARK)]
        probes += got
        jobs = jobs[len(got):]
        if not jobs:
            break
        bundle, variant = jobs.pop(0)  # the job the child was on when it died
        how = (f"timed out after {CHILD_TIMEOUT_S} s" if code is None else
               f"killed by signal {-code}" if code < 0 else f"exit status {code}")
        last = (err.strip().splitlines() or [""])[-1][:120]
        manifest = read_manifest(bundle)
        probes.append(Probe(Path(bundle).resolve().name, manifest.task, manifest.artifact(variant).key, engine,
                            platform.machine(), emulation(), engine_version(engine), "crashed",
                            f"the engine crashed ({how}) {last}".strip()))
    return probes


def _child(engine: str) -> int:
    for bundle, variant in json.load(sys.stdin):
        print(MARK + json.dumps(asdict(probe_variant(bundle, variant, engine))), flush=True)
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bundles", nargs="+", metavar="BUNDLE", help="bundle directories")
    parser.add_argument("--engines", default=",".join(ENGINES_SHOWN), help="engines to probe here (comma-separated)")
    parser.add_argument("--no-probe", action="store_true", help="only merge --probes files")
    parser.add_argument("--probes", nargs="*", default=[], metavar="FILE", help="probe files made elsewhere to merge")
    parser.add_argument("--save", metavar="FILE", help="write this machine's probes to FILE")
    parser.add_argument("--write-report", action="store_true", help="put the matrix into each bundle's report.md")
    parser.add_argument("--json", action="store_true", help="print the probes as JSON")


def cmd_compat(args: argparse.Namespace) -> int:
    """`edgeport-run compat`: probe here, merge, print the matrix (and write it into report.md)."""
    engines = [backends.canonical(e) for e in args.engines.split(",") if e]
    missing = [b for b in args.bundles if not Path(b).exists()]
    if missing:
        raise MissingBundleError(f"{missing[0]} does not exist: pass bundle directories edgeport-export wrote")
    here = [] if args.no_probe else probe_here(args.bundles, engines)
    if args.save:
        save_probes(here, args.save)
    probes = merge_probes(load_probes(args.probes) + here)
    if args.json:
        print(json.dumps({"probes": [asdict(p) for p in probes]}, indent=1))
    for bundle in args.bundles:
        markdown = render_markdown(probes, Path(bundle).resolve().name)
        if not args.json:
            print(markdown)
        if args.write_report:
            print(f"wrote {write_report_section(bundle, markdown)}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--child"]:
        return _child(argv[1])
    parser = argparse.ArgumentParser(prog="python -m edgeport.runtime.compat", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return cmd_compat(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
