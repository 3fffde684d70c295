"""The engines' WebAssembly builds from the npm registry, at pinned versions, checked against the registry's
integrity hash (sha512) and cached, so a second site build needs no network.

A tarball is taken from the cache (`$EDGEPORT_NPM_CACHE`, default `~/.cache/edgeport/npm`) when its hash
matches, else fetched with Node's `npm pack` (which honours the user's npm registry and proxy settings), else,
without `npm`, downloaded from the registry's tarball address. Whatever the source, a tarball whose sha512 is
not the pinned one is refused and never cached.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from edgeport.runtime.errors import EngineMissingError
from edgeport.runtime.atomic_files import atomic_write_bytes


@dataclass(frozen=True)
class NpmPackage:
    """One pinned npm package and the files a site needs from it (path in the tarball → name in the site)."""

    name: str
    version: str
    integrity: str  # the registry's `dist.integrity`
    files: tuple[tuple[str, str], ...]

    @property
    def tarball_name(self) -> str:
        return f"{self.name.lstrip('@').replace('/', '-')}-{self.version}.tgz"

    @property
    def tarball_url(self) -> str:
        return f"https://registry.npmjs.org/{self.name}/-/{self.name.split('/')[-1]}-{self.version}.tgz"


ONNXRUNTIME_WEB = NpmPackage(
    "onnxruntime-web", "1.30.0",
    "sha512-q0y+JrrtukXSzsBWEMccVfqX25LRmosXHF+CaRJmg8pZClzcV7svNc4rKY3jL02Vb7QmRMDs1SigqR4CXAfKYQ==",
    (("package/dist/ort.wasm.min.mjs", "ort.wasm.min.mjs"),
     ("package/dist/ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.mjs"),
     ("package/dist/ort-wasm-simd-threaded.wasm", "ort-wasm-simd-threaded.wasm")),
)
LITERTJS_CORE = NpmPackage(
    "@litertjs/core", "2.5.3",
    "sha512-PlGmbMOq9WitX7FO0jhbdJw9GthatsyuCQXjTt/wJZo0FLaw48q4tz8IwqgqCIkviYGr9OFDL1kCnN4nzWoyJQ==",
    (("package/dist/index.js", "litert.js"),
     ("package/wasm/litert_wasm_internal.js", "litert_wasm_internal.js"),
     ("package/wasm/litert_wasm_internal.wasm", "litert_wasm_internal.wasm"),
     ("package/wasm/litert_wasm_threaded_internal.js", "litert_wasm_threaded_internal.js"),
     ("package/wasm/litert_wasm_threaded_internal.wasm", "litert_wasm_threaded_internal.wasm")),
)
LITERTJS_WASM_UTILS = NpmPackage(  # @litertjs/core imports it by name: the page maps it with an import map
    "@litertjs/wasm-utils", "2.5.3",
    "sha512-4fJiw6tBQnIs+0jH/OQ16nYOiSl8/+zZnn5h2ul8aTKHi05sVqZW580Tmk78pC2kT39A9OYBVdFawteZ/sI1kQ==",
    (("package/dist/index.js", "litert-wasm-utils.js"),),
)
ENGINE_PACKAGES: dict[str, tuple[NpmPackage, ...]] = {
    "onnxruntime-web": (ONNXRUNTIME_WEB,),
    "litert.js": (LITERTJS_CORE, LITERTJS_WASM_UTILS),
}


def cache_dir() -> Path:
    """Where verified tarballs are kept: `$EDGEPORT_NPM_CACHE`, else `~/.cache/edgeport/npm`."""
    return Path(os.environ.get("EDGEPORT_NPM_CACHE") or Path.home() / ".cache" / "edgeport" / "npm")


def integrity_of(data: bytes) -> str:
    """The npm `integrity` string (Subresource Integrity, sha512) of `data`."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")


def tarball(package: NpmPackage, offline: bool = False) -> bytes:
    """The package's tarball, verified: from the cache, else fetched (and then cached)."""
    cached = cache_dir() / package.tarball_name
    if cached.is_file():
        data = cached.read_bytes()
        if integrity_of(data) == package.integrity:
            return data
    if offline:
        raise EngineMissingError(f"{package.name}@{package.version} is not in the cache {cache_dir()} and the build "
                                 f"is offline: put {package.tarball_url} there as {package.tarball_name}, or build once "
                                 "with the network")
    data = _fetch(package)
    found = integrity_of(data)
    if found != package.integrity:
        raise EngineMissingError(f"{package.name}@{package.version} from the registry has integrity {found}, not the "
                                 f"pinned {package.integrity}: refusing it (check your npm registry setting)")
    atomic_write_bytes(cached, data)
    return data


def _fetch(package: NpmPackage) -> bytes:
    spec = f"{package.name}@{package.version}"
    npm = shutil.which("npm")
    if npm:
        with tempfile.TemporaryDirectory(prefix="edgeport-npm-") as tmp:
            done = subprocess.run([npm, "pack", spec, "--pack-destination", tmp, "--silent"], capture_output=True,
                                  text=True, timeout=600, check=False)
            found = list(Path(tmp).glob("*.tgz"))
            if done.returncode == 0 and len(found) == 1:
                return found[0].read_bytes()
            why = (done.stderr.strip().splitlines() or ["no tarball written"])[-1]
            raise EngineMissingError(f"`npm pack {spec}` failed: {why}; check the network and npm's registry setting, "
                                     f"or put {package.tarball_url} in {cache_dir()} as {package.tarball_name}")
    try:
        with urllib.request.urlopen(package.tarball_url, timeout=120) as response:  # noqa: S310 — a fixed https URL
            return response.read()
    except (urllib.error.URLError, OSError) as exc:
        raise EngineMissingError(f"cannot download {package.tarball_url} ({exc}) and Node's npm is not installed; "
                                 f"install npm or put that file in {cache_dir()} as {package.tarball_name}") from None


def engine_files(engine: str, offline: bool = False) -> dict[str, bytes]:
    """The files of `engine` ("onnxruntime-web" or "litert.js") a site serves: site name → bytes."""
    files: dict[str, bytes] = {}
    for package in ENGINE_PACKAGES[engine]:
        data = tarball(package, offline)
        with tempfile.TemporaryFile() as handle:
            handle.write(data)
            handle.seek(0)
            with tarfile.open(fileobj=handle, mode="r:gz") as archive:
                for member, name in package.files:
                    extracted = archive.extractfile(member)  # by name: no path from the archive is ever written
                    if extracted is None:
                        raise EngineMissingError(f"{package.name}@{package.version} has no file {member}")
                    files[name] = extracted.read()
    return files


def engine_version(engine: str) -> str:
    """The pinned version of `engine`'s main package."""
    return ENGINE_PACKAGES[engine][0].version
