"""`edgeport-run web BUNDLE --out DIR`: a bundle as a static site that runs offline in a browser.

The site holds `index.html`, `edgeport.js` (the preprocessing, from the manifest's own description), the
chosen model file, its vocabulary, `site.json` (what the page loads) and `engine/` (the engine's JS and
`.wasm`, from the pinned npm package). It is written beside DIR and renamed into place whole.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from edgeport.runtime.bundle_files import BundleFiles
from edgeport.runtime.errors import ManifestError, UsageError
from edgeport.runtime.manifest import Artifact, Manifest
from edgeport.runtime.web import npm
from edgeport.runtime.web.tflite_batch1 import fixed_batch

# The default variant, first found that passed its checks: measured in Chromium on the pets model (docs/web.md),
# LiteRT.js runs the batch-1 fp32 file about 4x faster than onnxruntime-web runs the fp32 ONNX. LiteRT.js 2.5
# refuses int8 tensors at a model's edge, so int8 ships on onnxruntime-web.
DEFAULT_VARIANTS = ("tflite-fp32", "onnx-fp32", "tflite-fp16", "tflite-dynamic-int8", "onnx-static-int8",
                    "onnx-dynamic-int8")
STATIC_FILES = ("index.html", "edgeport.js")
SITE_JSON = "site.json"


@dataclass(frozen=True)
class Site:
    """What a build wrote: the folder, the variant shipped and its engine."""

    path: Path
    variant: str
    engine: str
    engine_version: str
    doc: dict


def engine_for(artifact: Artifact) -> str:
    """The browser engine for an artifact: LiteRT.js for a float-edged .tflite, onnxruntime-web for .onnx."""
    if artifact.format == "onnx":
        return "onnxruntime-web"
    edge = [spec for spec in artifact.inputs + artifact.outputs if spec.dtype in ("int8", "uint8", "int16")]
    if edge:
        raise UsageError(f"{artifact.key} has {edge[0].dtype} tensors at its edge ({edge[0].name}), which LiteRT.js 2.5 "
                         "refuses; ship an ONNX variant (onnx-static-int8) or a float .tflite instead")
    return "litert.js"


def choose_artifact(manifest: Manifest, variant: str | None) -> Artifact:
    """The artifact to ship: `variant` when given, else the first of `DEFAULT_VARIANTS` that passed."""
    if variant:
        return manifest.artifact(variant)
    for key in DEFAULT_VARIANTS:
        found = [a for a in manifest.artifacts if a.key == key and a.status == "passed"]
        if found:
            return found[0]
    have = ", ".join(a.key for a in manifest.artifacts) or "none"
    raise ManifestError(f"the bundle has no passing variant a browser engine runs (it has {have}); "
                        "pass --variant or re-export with tflite-fp32 or onnx-fp32")


def build_site(bundle: str | Path, out: str | Path, variant: str | None = None, offline: bool = False) -> Site:
    """Write the static site for `bundle` to `out` (replaced whole when it is a site already)."""
    bundle, out = Path(bundle), Path(out)
    if out.exists() and not (out / SITE_JSON).is_file() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"{out} exists and is not an edgeport site; pass a new or empty folder for --out")
    with BundleFiles(bundle) as files:
        manifest = files.manifest()
        if manifest.kind not in ("text", "image"):
            raise UsageError(f"{bundle} is a {manifest.kind} bundle; the web page classifies raw texts or images only")
        artifact = choose_artifact(manifest, variant)
        engine = engine_for(artifact)
        model = files.artifact(artifact)
        if artifact.format == "tflite":
            model, _ = fixed_batch(model)
        site_files = {f"engine/{name}": data for name, data in npm.engine_files(engine, offline).items()}
        spec = dict(manifest.preprocessing)
        if manifest.kind == "text":
            vocab = spec.get("vocabulary")
            if not isinstance(vocab, str):
                raise ManifestError("manifest.preprocessing.vocabulary must name the vocabulary file (vocab.json)")
            if spec.get("split_pattern") is not None:
                raise UsageError("this bundle splits texts on a regular expression (split_pattern), which the web "
                                 "page does not do yet; use a bundle trained with edgeport-train text")
            site_files["vocab.json"] = files.listed(manifest, vocab, "manifest.preprocessing.vocabulary")
            spec["vocabulary"] = "vocab.json"
    model_name = Path(artifact.file).name
    site_files[model_name] = model
    for name in STATIC_FILES:
        site_files[name] = resources.files("edgeport.runtime.web").joinpath("static", name).read_bytes()
    first_in, first_out = artifact.inputs[0], artifact.outputs[0]
    doc = {
        "bundle": bundle.resolve().name, "task": manifest.task, "kind": manifest.kind, "variant": artifact.key,
        "engine": engine, "engine_version": npm.engine_version(engine), "model": model_name,
        "labels": list(manifest.labels), "preprocessing": spec,
        "input": {"name": first_in.name, "dtype": first_in.dtype, "shape": [1, *first_in.shape[1:]]},
        "output": {"name": first_out.name, "dtype": first_out.dtype, "shape": first_out.shape},
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(site_files.items())},
    }
    site_files[SITE_JSON] = (json.dumps(doc, indent=2) + "\n").encode("utf-8")
    _write_whole(out, site_files)
    return Site(out, artifact.key, engine, doc["engine_version"], doc)


def _write_whole(out: Path, site_files: dict[str, bytes]) -> None:
    """Write the files to a folder beside `out`, then swap it in: `out` is never half written."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for name, data in site_files.items():
            path = tmp / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        tmp.chmod(0o755)
        old = None
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
            old.rmdir()
            out.rename(old)
        tmp.rename(out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
