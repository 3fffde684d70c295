"""The engines' npm tarballs: pinned integrity checked on every use, cache, offline builds."""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile

import pytest

from edgeport.runtime.errors import EngineMissingError
from edgeport.runtime.web import npm


def _tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _sri(data: bytes) -> str:  # Subresource Integrity, as npm writes `dist.integrity`
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


@pytest.fixture
def fake(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEPORT_NPM_CACHE", str(tmp_path / "cache"))
    data = _tarball({"package/dist/engine.js": b"export const x = 1;\n", "package/dist/engine.wasm": b"\0asm"})
    package = npm.NpmPackage("@fake/engine", "1.0.0", _sri(data), (("package/dist/engine.js", "engine.js"),))
    monkeypatch.setitem(npm.ENGINE_PACKAGES, "fake", (package,))
    return package, data


def test_fetched_once_then_built_offline_from_the_cache(fake, monkeypatch):
    package, data = fake
    calls = []
    monkeypatch.setattr(npm, "_fetch", lambda p: calls.append(p) or data)
    assert npm.engine_files("fake") == {"engine.js": b"export const x = 1;\n"}
    assert (npm.cache_dir() / "fake-engine-1.0.0.tgz").read_bytes() == data
    assert npm.engine_files("fake", offline=True) == {"engine.js": b"export const x = 1;\n"}
    assert len(calls) == 1


def test_a_tarball_that_is_not_the_pinned_one_is_refused_and_not_cached(fake, monkeypatch):
    package, data = fake
    monkeypatch.setattr(npm, "_fetch", lambda p: data + b"\0")
    with pytest.raises(EngineMissingError, match="not the pinned"):
        npm.engine_files("fake")
    assert not (npm.cache_dir() / package.tarball_name).exists()


def test_a_damaged_cache_is_not_used_offline(fake):
    package, data = fake
    npm.cache_dir().mkdir(parents=True)
    (npm.cache_dir() / package.tarball_name).write_bytes(data[:-1] + b"x")
    with pytest.raises(EngineMissingError, match="not in the cache"):
        npm.engine_files("fake", offline=True)


def test_pinned_tarballs_in_the_cache_have_the_registry_hash():
    """The integrity strings were copied from `npm view PACKAGE@VERSION dist.integrity`; a cached tarball
    (the site fixtures fetch them) hashes to them."""
    found = [p for packages in npm.ENGINE_PACKAGES.values() for p in packages if (npm.cache_dir() / p.tarball_name).is_file()]
    if not found:
        pytest.skip("no engine tarball in the cache yet")
    for package in found:
        assert _sri((npm.cache_dir() / package.tarball_name).read_bytes()) == package.integrity
