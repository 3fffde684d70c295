"""The manifest's own digest (`manifest_sha256`): written by export, checked before any field is used."""

from __future__ import annotations

import json
import random

import pytest

from edgeport import runtime
from edgeport.runtime.errors import EdgeportError, ManifestError
from edgeport.runtime.manifest import manifest_from_bytes, read_manifest
from edgeport.runtime.manifest_digest import DIGEST_FIELD, manifest_digest
from tests.runtime.conftest import manifest_doc, run_cli, write_manifest_doc

FLIPS = 2_000  # `tools/manifest_flips.py` runs 10,000 and more


def test_exported_manifest_carries_its_digest_and_loads(text_binary):
    doc = manifest_doc(text_binary)
    assert len(doc[DIGEST_FIELD]) == 64
    assert doc[DIGEST_FIELD] == manifest_digest(doc)
    assert read_manifest(text_binary).task == doc["task"]


def test_digest_covers_every_field_even_unknown_ones(text_binary):
    doc = manifest_doc(text_binary)
    before = manifest_digest(doc)
    assert manifest_digest({**doc, "added_by_a_later_version": 1}) != before
    assert manifest_digest({k: doc[k] for k in reversed(list(doc))}) == before  # key order is not content


def test_the_probes_split_flip_is_refused(text_topics, copy_bundle):
    """A bit flipped `split` from " " to "!" and every text came back as one class: now refused."""
    bundle = copy_bundle(text_topics)
    data = (bundle / "manifest.json").read_bytes()
    flipped = data.replace(b'"split": " "', b'"split": "!"', 1)
    assert flipped != data and bytes(a ^ b for a, b in zip(data, flipped)).count(0) == len(data) - 1
    (bundle / "manifest.json").write_bytes(flipped)
    with pytest.raises(ManifestError, match="does not match its manifest_sha256") as info:
        runtime.load(bundle)
    assert "\n" not in str(info.value) and "re-export" in str(info.value)


def test_a_spelling_json_reads_the_same_is_refused_too(text_binary):
    doc = manifest_doc(text_binary)
    data = (text_binary / "manifest.json").read_bytes()
    spaced = data.replace(b'": ', b'":  ', 1)
    assert json.loads(spaced) == doc
    with pytest.raises(ManifestError, match="not spelt as edgeport writes it"):
        manifest_from_bytes(spaced)


def test_a_manifest_without_digest_asks_for_a_re_export(text_binary, copy_bundle):
    bundle = copy_bundle(text_binary)
    doc = manifest_doc(bundle)
    del doc[DIGEST_FIELD]
    (bundle / "manifest.json").write_text(json.dumps(doc, indent=2) + "\n")
    with pytest.raises(ManifestError, match="has no manifest_sha256.*re-export"):
        runtime.load(bundle)
    for command, status in (("info", 3), ("verify", 1)):  # verify: 1 for a bundle it cannot vouch for
        done = run_cli(command, bundle)
        assert done.returncode == status and "has no manifest_sha256" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr


def test_every_single_bit_flip_is_refused_with_a_typed_error(text_topics):
    data = (text_topics / "manifest.json").read_bytes()
    rng = random.Random(26)
    loaded = []
    for _ in range(FLIPS):
        bit = rng.randrange(len(data) * 8)
        flipped = bytearray(data)
        flipped[bit // 8] ^= 1 << (bit % 8)
        try:
            manifest_from_bytes(bytes(flipped))
        except ManifestError as exc:
            assert str(exc).strip()
        else:
            loaded.append(bit)
    assert loaded == []


@pytest.mark.parametrize("path", ["vocab\x00.json", "\ud800.json"])
def test_a_path_no_file_name_can_hold_is_a_manifest_error(path, text_binary, copy_bundle):
    bundle = copy_bundle(text_binary)
    doc = manifest_doc(bundle)
    doc["files"][0]["path"] = path
    write_manifest_doc(bundle, doc)
    with pytest.raises(ManifestError, match="no file name can"):
        runtime.load(bundle)
    done = run_cli("info", bundle)
    assert done.returncode == 3 and "no file name can" in done.stderr, done.stderr


def test_a_signed_but_wrong_manifest_still_meets_the_schema(text_binary, copy_bundle):
    bundle = copy_bundle(text_binary)
    doc = manifest_doc(bundle)
    doc["kind"] = "audio"
    write_manifest_doc(bundle, doc)
    with pytest.raises(EdgeportError, match="kind 'audio'"):
        runtime.load(bundle)
