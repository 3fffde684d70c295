"""What a device keeps beside its live bundle for fleet updates, and the swaps that install a bundle.

    BUNDLE_DIR                 the live bundle (what `runtime.load` and `serve` read)
    .BUNDLE_DIR.fleet/
      metadata/                python-tuf's trusted metadata: root.json (installed once, rotated by TUF),
                               timestamp, snapshot, targets (what `load(trusted_root=...)` checks against)
      downloads/               verified archives
      previous/                the bundle that was live before the last swap (`rollback` brings it back)
      versions.json            manifest digest → published version, name and repository URL; held digests

Which version is live or previous is read from the bundles' own manifests, not remembered, so a kill at
any point leaves a state that the next pull or rollback reads correctly.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeport.runtime.atomic_files import atomic_write_bytes
from edgeport.runtime.manifest import MANIFEST_NAME
from edgeport.runtime.staging import STAGING_TAG, remove_stale, sibling_prefix, swap_in

FLEET_SUFFIX = "fleet"
STATE = "versions.json"


@dataclass
class DeviceState:
    """Published versions by manifest digest, where they came from, and digests rolled back from."""

    versions: dict[str, int] = field(default_factory=dict)
    name: str | None = None
    url: str | None = None
    held: list[str] = field(default_factory=list)


def fleet_dir(bundle: Path) -> Path:
    """The folder beside `bundle` that holds its fleet metadata, downloads and previous version."""
    return bundle.parent / f".{bundle.name}.{FLEET_SUFFIX}"


def metadata_dir(bundle: Path) -> Path:
    return fleet_dir(bundle) / "metadata"


def previous_dir(bundle: Path) -> Path:
    return fleet_dir(bundle) / "previous"


def manifest_digest(bundle: Path) -> str | None:
    """sha256 of the bundle's manifest.json, or None when there is none."""
    try:
        return hashlib.sha256((bundle / MANIFEST_NAME).read_bytes()).hexdigest()
    except OSError:
        return None


def read_state(bundle: Path) -> DeviceState:
    path = fleet_dir(bundle) / STATE
    try:
        doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return DeviceState()
    return DeviceState({str(k): int(v) for k, v in doc.get("versions", {}).items()}, doc.get("name"), doc.get("url"),
                       [str(d) for d in doc.get("held", [])])


def write_state(bundle: Path, state: DeviceState) -> None:
    doc = {"versions": state.versions, "name": state.name, "url": state.url, "held": state.held}
    atomic_write_bytes(fleet_dir(bundle) / STATE, (json.dumps(doc, indent=2) + "\n").encode("utf-8"))


def new_stage(bundle: Path) -> Path:
    """An empty staging folder beside the bundle (a killed run's leftovers are removed first)."""
    bundle.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(bundle)
    stage = Path(tempfile.mkdtemp(prefix=f"{sibling_prefix(bundle, STAGING_TAG)}{os.getpid()}-", dir=bundle.parent))
    os.chmod(stage, 0o755)
    return stage


def link_tree(source: Path, target: Path) -> None:
    """Copy the folder `source` to `target` as hard links (files are only ever replaced, never written into)."""
    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, target, copy_function=link, dirs_exist_ok=True)


def install(stage: Path, bundle: Path) -> None:
    """Swap the verified `stage` in as the live bundle (atomically, `staging.swap_in`); the bundle that was
    live becomes the previous one."""
    keep = None
    if bundle.is_dir():
        fleet_dir(bundle).mkdir(parents=True, exist_ok=True)
        keep = Path(tempfile.mkdtemp(prefix="previous-", dir=fleet_dir(bundle)))
        link_tree(bundle, keep)
    swap_in(stage, bundle)
    if keep is not None:
        swap_in(keep, previous_dir(bundle))
