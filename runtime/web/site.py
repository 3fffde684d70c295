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

from edgeport.runtime.bundle_reader import BundleFiles
from edgeport.runtime.errors import ManifestError, UsageError
from edgeport.runtime.manifest import Artifact, Manifest, TensorSpec
from edgeport.runtime.web import npm
from edgeport.runtime.web.tflite_batch1 import fixed_batch
from edgeport.runtime.pixel_table import takes_pixels
from edgeport.runtime.tflite_edges import uint8_edges
from edgeport.runtime.variants import BROWSER_ORDER

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
    """The browser engine for an artifact: LiteRT.js for a .tflite, onnxruntime-web for an .onnx."""
    if artifact.format == "onnx":
        return "onnxruntime-web"
    edge = [spec for spec in artifact.inputs + artifact.outputs if spec.dtype == "int16"]
    if edge:
        raise UsageError(f"{artifact.key} has int16 tensors at its edge ({edge[0].name}), which LiteRT.js 2.5 "
                         "refuses; ship an ONNX variant (onnx-static-int8) or another .tflite variant instead")
    return "litert.js"


def litert_file(model: bytes, artifact: Artifact) -> bytes:
    """A .tflite as LiteRT.js takes it: int8 edges behind uint8 ones, every dimension fixed (batch 1)."""
    if any(spec.dtype == "int8" for spec in artifact.inputs + artifact.outputs):
        model, _ = uint8_edges(model)
    model, _ = fixed_batch(model)
    return model


def page_tensor(spec: TensorSpec, litert: bool) -> dict:
    """A tensor as the page feeds or reads it; for LiteRT.js an int8 edge is its uint8 twin (`litert_file`)."""
    doc = {"name": spec.name, "dtype": spec.dtype, "shape": [1, *spec.shape[1:]]}
    if spec.quantized:
        doc.update(scale=spec.scale, zero_point=spec.zero_point or 0)
        if litert and spec.dtype == "int8":
            doc.update(dtype="uint8", zero_point=doc["zero_point"] + 128)
    return doc


def choose_artifact(manifest: Manifest, variant: str | None) -> Artifact:
    """The artifact to ship: `variant` when given, else the first of `runtime.variants.BROWSER_ORDER` that passed."""
    if variant:
        return manifest.artifact(variant)
    for key in BROWSER_ORDER:
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
            model = litert_file(model, artifact)
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
    if manifest.kind == "image" and takes_pixels(first_in):  # normalisation inside the model: the page feeds pixels
        spec.update(dtype="uint8", normalization="none")
    doc = {
        "bundle": bundle.resolve().name, "task": manifest.task, "kind": manifest.kind, "variant": artifact.key,
        "engine": engine, "engine_version": npm.engine_version(engine), "model": model_name,
        "labels": list(manifest.labels), "preprocessing": spec,
        "input": page_tensor(first_in, engine == "litert.js"), "output": page_tensor(first_out, engine == "litert.js"),
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
