"""Fleet updates on loopback: a TUF repository folder served by `python -m http.server`, changed between
pulls; every refused update leaves the live bundle exactly as it was."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tuf", reason="needs the fleet extra: pip install 'edgeport[fleet]'")

from edgeport import runtime  # noqa: E402
from edgeport.runtime.cli import main  # noqa: E402
from edgeport.runtime.errors import TrustError, UpdateError, UsageError  # noqa: E402
from edgeport.runtime.fleet import device  # noqa: E402
from edgeport.runtime.fleet.archive import extract_bundle  # noqa: E402
from edgeport.runtime.manifest import read_manifest  # noqa: E402
from edgeport.runtime.fleet.keys import generate_keys  # noqa: E402
from edgeport.runtime.fleet.pull import CURRENT, HELD, UPDATED, pull, rollback  # noqa: E402
from edgeport.runtime.fleet.repository import Expiry, publish  # noqa: E402
from tests.runtime.conftest import REPO, write_manifest_doc  # noqa: E402

NAME = "clf"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` and its sha256: what "left untouched" is checked against."""
    return {p.relative_to(folder).as_posix(): digest(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Fleet:
    """Keys, a repository folder served on loopback, and one device's bundle path."""

    def __init__(self, tmp: Path):
        self.keys, self.repo, self.bundle = tmp / "keys", tmp / "repo", tmp / "device" / "model"
        generate_keys(self.keys)
        self.repo.mkdir()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = subprocess.Popen([sys.executable, "-m", "http.server", str(self.port), "--bind", "127.0.0.1",
                                        "--directory", str(self.repo)], stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def publish(self, bundle: Path, **kwargs):
        return publish(bundle, self.repo, self.keys, name=NAME, **kwargs)

    def pull(self, bundle: Path | None = None, **kwargs):
        return pull(self.url, bundle or self.bundle, NAME, root=self.keys / "root.json", **kwargs)

    def archive(self, version_digest: str) -> Path:
        """The stored archive whose signed target names `version_digest` as its manifest."""
        meta = self.repo / "metadata"
        newest = max(meta.glob("*.targets.json"), key=lambda p: int(p.name.split(".")[0]))
        target = json.loads(newest.read_text())["signed"]["targets"][f"{NAME}/bundle.tar"]
        assert target["custom"]["edgeport"]["manifest_sha256"] == version_digest
        return self.repo / "targets" / NAME / f"{target['hashes']['sha256']}.bundle.tar"

    def stop(self) -> None:
        self.server.terminate()
        self.server.wait(10)


@pytest.fixture
def fleet(tmp_path: Path):
    f = Fleet(tmp_path)
    yield f
    f.stop()


def manifest_digest(bundle: Path) -> str:
    return digest(bundle / "manifest.json")


@pytest.fixture
def bad_golden(text_topics: Path, tmp_path: Path) -> Path:
    """text_topics whose tflite-fp32 golden outputs are off by 0.5 (manifest re-hashed to match)."""
    bundle = tmp_path / "bad_golden"
    shutil.copytree(text_topics, bundle)
    golden = bundle / "golden" / "tflite-fp32.npz"
    with np.load(golden) as arrays:
        data = {k: (v + 0.5 if k.startswith("output/") else v) for k, v in arrays.items()}
    buffer = io.BytesIO()
    np.savez(buffer, **data)
    golden.write_bytes(buffer.getvalue())
    manifest = json.loads((bundle / "manifest.json").read_text())
    for entry in manifest["files"]:
        if entry["path"] == "golden/tflite-fp32.npz":
            entry["size"], entry["sha256"] = golden.stat().st_size, digest(golden)
    write_manifest_doc(bundle, manifest)
    return bundle


def live_after_v1(fleet: Fleet, v1: Path, v2: Path, **publish_v2) -> dict[str, str]:
    """v1 pulled and live, v2 published: what the live bundle holds."""
    fleet.publish(v1)
    assert fleet.pull().status == UPDATED
    fleet.publish(v2, **publish_v2)
    return snapshot(fleet.bundle)


# ---------------------------------------------------------------- keys and publishing


def test_keys_are_private_and_never_overwritten(tmp_path: Path):
    keys = generate_keys(tmp_path / "k")
    for key in (keys.root_key, keys.online_key):
        assert key.stat().st_mode & 0o777 == 0o600
        assert b"PRIVATE KEY" in key.read_bytes()
    root = json.loads(keys.root_metadata.read_text())["signed"]
    assert root["_type"] == "root" and root["consistent_snapshot"] is True
    assert len(root["keys"]) == 2 and root["roles"]["root"]["keyids"] != root["roles"]["targets"]["keyids"]
    with pytest.raises(UsageError, match="never overwritten"):
        generate_keys(tmp_path / "k")


def test_publish_versions_increase_and_keys_stay_out(fleet: Fleet, text_binary: Path, text_topics: Path):
    first = fleet.publish(text_binary)
    again = fleet.publish(text_binary)
    second = fleet.publish(text_topics)
    resigned = publish(None, fleet.repo, fleet.keys)
    assert (first.version, again.version, again.unchanged, second.version) == (1, 1, True, 2)
    assert (first.targets_version, second.targets_version, resigned.targets_version) == (1, 2, 3)
    stored = [p.read_bytes() for p in fleet.repo.rglob("*") if p.is_file()]
    assert stored and not any(b"PRIVATE KEY" in data for data in stored)
    assert {p.name for p in (fleet.repo / "metadata").iterdir()} >= {"1.root.json", "timestamp.json", "3.targets.json"}
    with pytest.raises(UsageError, match="inside the repository"):
        publish(text_binary, fleet.repo, fleet.repo / "keys")
    other = generate_keys(fleet.repo.parent / "other")
    with pytest.raises(UsageError, match="not the online key"):
        publish(text_binary, fleet.repo, other.root_key.parent)


# ---------------------------------------------------------------- good updates


def test_good_update_swaps_verifies_serves_and_rolls_back(fleet: Fleet, text_binary: Path, text_topics: Path):
    fleet.publish(text_binary)
    first = fleet.pull()
    assert (first.status, first.version) == (UPDATED, 1)
    assert fleet.pull().status == CURRENT
    fleet.publish(text_topics)
    second = pull(fleet.url, fleet.bundle, NAME)  # no --root now: the device keeps its own
    assert (second.status, second.version, second.previous_version) == (UPDATED, 2, 1)
    assert manifest_digest(fleet.bundle) == manifest_digest(text_topics)
    trusted = device.metadata_dir(fleet.bundle) / "root.json"
    model = runtime.load(fleet.bundle, trusted_root=trusted)
    expected = runtime.load(text_topics).predict(["oil barrels and crude"])
    assert np.array_equal(model.predict(["oil barrels and crude"]), expected)

    back = rollback(fleet.bundle)
    assert (back.version, back.previous_version) == (1, 2)
    assert manifest_digest(fleet.bundle) == manifest_digest(text_binary)
    assert runtime.load(fleet.bundle, trusted_root=trusted).labels == runtime.load(text_binary).labels
    assert fleet.pull().status == HELD  # the version rolled back from is not pulled again...
    third = fleet.publish(text_binary.parent / "image")
    assert fleet.pull().version == third.version == 3  # ...but a newer one is


def test_rollback_without_previous_says_so(fleet: Fleet, text_binary: Path):
    fleet.publish(text_binary)
    fleet.pull()
    with pytest.raises(UpdateError, match="no previous version"):
        rollback(fleet.bundle)


# ---------------------------------------------------------------- refused updates


def test_tampered_target_byte_is_refused(fleet: Fleet, text_binary: Path, text_topics: Path):
    before = live_after_v1(fleet, text_binary, text_topics)
    archive = fleet.archive(manifest_digest(text_topics))
    data = bytearray(archive.read_bytes())
    data[len(data) // 3] ^= 0x01
    archive.write_bytes(bytes(data))
    with pytest.raises(TrustError, match="does not match its signed length and sha256"):
        fleet.pull()
    assert snapshot(fleet.bundle) == before


def test_target_signed_by_untrusted_key_is_refused(fleet: Fleet, text_binary: Path, text_topics: Path):
    from securesystemslib.signer import CryptoSigner
    from tuf.api.metadata import Metadata

    before = live_after_v1(fleet, text_binary, text_topics)
    newest = max((fleet.repo / "metadata").glob("*.targets.json"), key=lambda p: int(p.name.split(".")[0]))
    forged = Metadata.from_file(str(newest))
    forged.signatures.clear()
    forged.sign(CryptoSigner.generate_ed25519())
    forged.to_file(str(newest))
    with pytest.raises(TrustError, match="UnsignedMetadataError"):
        fleet.pull()
    assert snapshot(fleet.bundle) == before


def test_replayed_older_metadata_is_refused(fleet: Fleet, text_binary: Path, text_topics: Path, tmp_path: Path):
    fleet.publish(text_binary)
    old_metadata = tmp_path / "old-metadata"
    shutil.copytree(fleet.repo / "metadata", old_metadata)
    fleet.publish(text_topics)
    fleet.pull()
    before = snapshot(fleet.bundle)
    shutil.rmtree(fleet.repo / "metadata")
    shutil.copytree(old_metadata, fleet.repo / "metadata")  # an attacker replays version 1's signed files
    with pytest.raises(TrustError, match="BadVersionNumberError"):
        fleet.pull()
    assert snapshot(fleet.bundle) == before


def test_replayed_older_targets_version_is_refused(fleet: Fleet, text_binary: Path, text_topics: Path):
    """The fresh timestamp and snapshot name targets version 2; the server hands out version 1's file."""
    before = live_after_v1(fleet, text_binary, text_topics)
    metadata = fleet.repo / "metadata"
    (metadata / "2.targets.json").write_bytes((metadata / "1.targets.json").read_bytes())
    with pytest.raises(TrustError, match="BadVersionNumberError"):
        fleet.pull()
    assert snapshot(fleet.bundle) == before


def test_bundle_version_not_newer_than_live_is_refused(fleet: Fleet, text_binary: Path, text_topics: Path,
                                                       image_bundle: Path):
    """Validly signed metadata (the online key's) that offers a new bundle under an old version number."""
    from tuf.api.metadata import Metadata

    from edgeport.runtime.fleet.keys import load_signer

    fleet.publish(text_binary)
    fleet.pull()
    fleet.publish(text_topics)
    assert fleet.pull().version == 2
    before = snapshot(fleet.bundle)
    fleet.publish(image_bundle)
    newest = max((fleet.repo / "metadata").glob("*.targets.json"), key=lambda p: int(p.name.split(".")[0]))
    targets = Metadata.from_file(str(newest))
    targets.signed.targets[f"{NAME}/bundle.tar"].custom["edgeport"]["version"] = 2
    targets.signatures.clear()
    targets.sign(load_signer(fleet.keys / "online.key"))
    targets.to_file(str(newest))
    with pytest.raises(TrustError, match="version 2, not newer than the live version 2"):
        fleet.pull()
    assert snapshot(fleet.bundle) == before


def test_expired_timestamp_is_refused(fleet: Fleet, text_binary: Path, text_topics: Path):
    before = live_after_v1(fleet, text_binary, text_topics, expiry=Expiry(timestamp=-1 / 24))
    with pytest.raises(TrustError, match="ExpiredMetadataError"):
        fleet.pull()
    assert snapshot(fleet.bundle) == before


def test_truncated_download_is_refused_then_recovers(fleet: Fleet, text_binary: Path, text_topics: Path):
    before = live_after_v1(fleet, text_binary, text_topics)
    archive = fleet.archive(manifest_digest(text_topics))
    whole = archive.read_bytes()
    archive.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(TrustError, match="length"):
        fleet.pull()
    assert snapshot(fleet.bundle) == before
    archive.write_bytes(whole)
    assert fleet.pull().version == 2


def test_failing_golden_samples_are_refused(fleet: Fleet, text_binary: Path, bad_golden: Path, capsys):
    before = live_after_v1(fleet, text_binary, bad_golden)
    with pytest.raises(UpdateError, match="tflite-fp32 differs"):
        fleet.pull()
    assert snapshot(fleet.bundle) == before
    assert main(["pull", fleet.url, str(fleet.bundle), "--name", NAME]) == 5
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "golden samples" in err[0] and "live bundle is unchanged" in err[0]
    assert not list(fleet.bundle.parent.glob(".model.staging-*"))


KILL_POINTS = {  # what the killed pull is doing when the kill comes, as seen from outside
    "starting": lambda bundle, old: True,
    "downloading": lambda bundle, old: any((device.fleet_dir(bundle) / "downloads").glob("*")),
    "staging": lambda bundle, old: any(bundle.parent.glob(".model.staging-*")),
    "verifying": lambda bundle, old: any(bundle.parent.glob(".model.staging-*/manifest.json")),
    "swapping": lambda bundle, old: any(device.fleet_dir(bundle).glob("previous-*")),
    "swapped": lambda bundle, old: manifest_digest(bundle) != old,  # the previous one is not yet kept
}


def test_killed_pull_leaves_one_whole_bundle(fleet: Fleet, text_binary: Path, text_topics: Path, tmp_path: Path):
    """SIGKILL at several points of a pull in another process: the bundle is always the old or the new one,
    whole (it loads), and the next pull completes."""
    fleet.publish(text_binary)
    fleet.publish(text_topics)
    probe = tmp_path / "probe" / "model"
    assert fleet.pull(probe).version == 2  # its verified metadata is copied to each device below
    old, new = manifest_digest(text_binary), manifest_digest(text_topics)
    outcomes = {}
    for point, reached in KILL_POINTS.items():
        bundle = tmp_path / point / "model"
        shutil.copytree(text_binary, bundle)
        shutil.copytree(device.metadata_dir(probe), device.metadata_dir(bundle), symlinks=True)
        device.write_state(bundle, device.DeviceState({old: 1}, NAME, fleet.url))
        proc = subprocess.Popen([sys.executable, "-m", "edgeport.runtime", "pull", fleet.url, str(bundle), "--name",
                                 NAME], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while proc.poll() is None and not reached(bundle, old):
            time.sleep(0.0005)
        killed = proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        live = manifest_digest(bundle)
        assert live in (old, new), point
        outcomes[point] = ("old" if live == old else "new") if killed else "finished first"
        runtime.load(bundle).predict(["a great film"])  # whole: every listed file checks out
        assert pull(fleet.url, bundle, NAME).status in (UPDATED, CURRENT)
        assert manifest_digest(bundle) == new
        assert not list(bundle.parent.glob(".model.staging-*")), point
    assert outcomes["starting"] == "old"
    assert sum(outcome != "finished first" for outcome in outcomes.values()) >= 3, outcomes


def test_reader_never_sees_half_bundle(fleet: Fleet, text_binary: Path, text_topics: Path, image_bundle: Path):
    """A thread loads the live bundle throughout pulls and a rollback: every load verifies every file the
    manifest lists, so a half bundle would fail it."""
    fleet.publish(text_binary)
    fleet.pull()
    failures, tasks, stop = [], [], threading.Event()

    def read() -> None:
        while not stop.is_set():
            try:
                tasks.append(runtime.load(fleet.bundle, threads=1).manifest.task)
            except Exception as exc:  # noqa: BLE001 — every failure is collected and reported
                failures.append(f"{type(exc).__name__}: {exc}")

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for bundle in (text_topics, image_bundle, text_binary, text_topics):
            fleet.publish(bundle)
            assert fleet.pull().status == UPDATED
        rollback(fleet.bundle)
    finally:
        stop.set()
        reader.join()
    assert not failures, failures[:3]
    expected = {runtime.load(b).manifest.task for b in (text_binary, text_topics, image_bundle)}
    assert len(tasks) > 5 and set(tasks) <= expected and len(set(tasks)) >= 2


# ---------------------------------------------------------------- trust at load


def test_load_with_trusted_root_refuses_unsigned_bundles(fleet: Fleet, text_binary: Path, image_bundle: Path, capsys):
    fleet.publish(text_binary)
    fleet.pull()
    trusted = device.metadata_dir(fleet.bundle) / "root.json"
    assert runtime.load(fleet.bundle, trusted_root=trusted).labels == runtime.load(text_binary).labels
    assert runtime.load(fleet.bundle, trusted_root=trusted.parent).info()["task"]
    with pytest.raises(TrustError, match="in no signed targets metadata"):
        runtime.load(image_bundle, trusted_root=trusted)
    runtime.load(image_bundle)  # without the option: as before
    assert main(["predict", str(image_bundle), "--trusted-root", str(trusted), str(image_bundle)]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no signed targets metadata" in err[0]
    with pytest.raises(TrustError, match="pull the bundle once"):
        runtime.load(text_binary, trusted_root=fleet.keys / "root.json")  # a root, but no verified targets


# ---------------------------------------------------------------- command line and archives


def test_cli_flow(tmp_path: Path, fleet: Fleet, text_binary: Path, text_topics: Path, capsys):
    keys, bundle = tmp_path / "cli-keys", tmp_path / "board" / "model"
    repo = fleet.repo
    fleet.publish(text_binary)  # the repository now belongs to the fixture's keys
    assert main(["keys", str(keys)]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == ["root", "online", "root.json"]
    assert main(["pull", fleet.url, str(bundle), "--name", NAME]) == 2  # no trusted root yet
    assert main(["pull", fleet.url, str(bundle), "--name", NAME, "--root", str(tmp_path / "none.json")]) == 2
    assert main(["pull", f"http://127.0.0.1:{free_port()}", str(bundle), "--name", NAME, "--root",
                 str(keys / "root.json")]) == 5  # nobody listens there
    assert main(["publish", str(tmp_path), "--repo", str(repo), "--keys", str(keys)]) == 2  # no bundle
    errors = capsys.readouterr().err.splitlines()
    assert [e.split(":")[1].strip() for e in errors] == ["error", "error", "not installed", "error"], errors
    assert "no trusted root yet" in errors[0] and "cannot read the root" in errors[1]
    assert "cannot fetch the repository's metadata" in errors[2] and "not a bundle folder" in errors[3]
    assert main(["publish", str(text_binary), "--repo", str(repo), "--keys", str(keys), "--name", NAME]) == 2
    out = capsys.readouterr()
    assert "not the online key" in out.err  # the fixture's repository has other keys
    shutil.rmtree(repo)
    repo.mkdir()
    assert main(["publish", str(text_binary), "--repo", str(repo), "--keys", str(keys), "--name", NAME]) == 0
    assert main(["pull", fleet.url, str(bundle), "--name", NAME, "--root", str(keys / "root.json")]) == 0
    assert main(["publish", str(text_topics), "--repo", str(repo), "--keys", str(keys), "--name", NAME]) == 0
    assert main(["pull", fleet.url, str(bundle), "--name", NAME]) == 0
    assert main(["rollback", str(bundle)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["published", "updated", "published", "updated", "rolled"]
    assert "version 2 verified and live (was version 1)" in lines[3]
    assert manifest_digest(bundle) == manifest_digest(text_binary)


def test_watch_keeps_a_board_current(fleet: Fleet, text_binary: Path, text_topics: Path):
    fleet.publish(text_binary)
    fleet.pull()
    proc = subprocess.Popen([sys.executable, "-m", "edgeport.runtime", "pull", fleet.url, str(fleet.bundle),
                             "--name", NAME, "--watch", "0.2"], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        seen = [proc.stdout.readline() for _ in range(2)]  # the engine's start-up line may come first
        assert any(line.startswith("current      clf version 1") for line in seen), seen
        fleet.publish(text_topics)
        deadline = time.monotonic() + 60
        line = ""
        while not line.startswith("updated"):  # a line every round (0.2 s), so readline never waits long
            assert time.monotonic() < deadline and proc.poll() is None
            line = proc.stdout.readline()
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    assert line.startswith("updated      clf version 2 verified and live (was version 1)")
    assert manifest_digest(fleet.bundle) == manifest_digest(text_topics)


def _tar(members: list[tarfile.TarInfo], path: Path) -> Path:
    with tarfile.open(path, "w") as tar:
        for info in members:
            tar.addfile(info, io.BytesIO(b"x" * info.size) if info.isfile() else None)
    return path


@pytest.mark.parametrize("member", ["../escape.json", "/abs.json", "link", "manifest.json twice"])
def test_archive_holds_plain_files_inside_only(tmp_path: Path, member: str):
    infos = [tarfile.TarInfo("manifest.json")]
    infos[0].size = 2
    if member == "link":
        link = tarfile.TarInfo("vocab.json")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        infos.append(link)
    elif member == "manifest.json twice":
        infos.append(infos[0])
    else:
        escape = tarfile.TarInfo(member)
        escape.size = 2
        infos.append(escape)
    target = tmp_path / "out"
    target.mkdir()
    with pytest.raises(UpdateError):
        extract_bundle(_tar(infos, tmp_path / "a.tar"), target)
    assert not (tmp_path / "escape.json").exists() and not Path("/abs.json").exists()


def test_publish_pack_sends_the_device_bundle_of_the_variants_chosen(fleet: Fleet, text_binary: Path, capsys):
    args = ["publish", str(text_binary), "--repo", str(fleet.repo), "--keys", str(fleet.keys), "--name", NAME]
    assert main([*args, "--variant", "tflite-fp32"]) == 2  # --variant belongs to --pack
    assert "pass --pack too" in capsys.readouterr().err
    assert main([*args, "--pack", "--variant", "tflite-fp32"]) == 0
    fleet.pull()
    live = read_manifest(fleet.bundle)
    assert [a.key for a in live.artifacts] == ["tflite-fp32"] and not (fleet.bundle / "keras").exists()
    assert sorted(p.name for p in fleet.bundle.glob("model.*")) == ["model.fp32.tflite"]
    data = read_manifest(text_binary).artifact("tflite-fp32").sha256
    assert live.artifact("tflite-fp32").sha256 == data
