"""`edgeport-run keys | publish | pull | rollback`: parse, call `edgeport.runtime.fleet`, print one line.

Exit codes beside the runtime's: 4 the update is refused as untrusted (`TrustError`: signature, key,
replayed or expired metadata, a target whose bytes differ), 5 it could not be installed (`UpdateError`:
download, archive, golden samples on this device). Either way the live bundle is left as it was.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from edgeport.runtime.errors import TrustError, UpdateError, UsageError

EXIT_OK, EXIT_UNTRUSTED, EXIT_NOT_INSTALLED = 0, 4, 5


def _refused(exc: Exception) -> int:
    print(f"edgeport-run: {'refused' if isinstance(exc, TrustError) else 'not installed'}: {exc}", file=sys.stderr)
    return EXIT_UNTRUSTED if isinstance(exc, TrustError) else EXIT_NOT_INSTALLED


def cmd_keys(args: argparse.Namespace) -> int:
    from edgeport.runtime.fleet.keys import generate_keys

    keys = generate_keys(args.key_dir)
    print(f"root key     {keys.root_key} (offline: keep it off the network)\n"
          f"online key   {keys.online_key} (signs each publish)\n"
          f"root.json    {keys.root_metadata} (install it on every device: edgeport-run pull ... --root)")
    return EXIT_OK


def cmd_publish(args: argparse.Namespace) -> int:
    from edgeport.runtime.fleet.repository import Expiry, publish

    expiry = Expiry(args.targets_days, args.snapshot_days, args.timestamp_days)
    if args.variant and not args.pack:
        raise UsageError("--variant chooses what --pack takes: pass --pack too")
    if not args.pack:
        result = publish(args.bundle, args.repo, args.keys, name=args.name, expiry=expiry)
    else:
        if args.bundle is None:
            raise UsageError("--pack publishes a device bundle of BUNDLE: pass the bundle folder")
        from edgeport.runtime.pack import pack_bundle

        with tempfile.TemporaryDirectory(prefix="edgeport-publish-") as work:
            packed = pack_bundle(args.bundle, Path(work) / "bundle", args.variant)
            result = publish(packed.out, args.repo, args.keys, name=args.name, expiry=expiry)
    if result.name is None:
        print(f"re-signed    {args.repo} (targets version {result.targets_version})")
    elif result.unchanged:
        print(f"unchanged    {result.name} version {result.version} is this bundle already")
    else:
        print(f"published    {result.name} version {result.version} (manifest sha256 "
              f"{result.manifest_sha256[:12]}…, targets version {result.targets_version})")
    return EXIT_OK


def _pull_once(args: argparse.Namespace) -> int:
    from edgeport.runtime.fleet.pull import CURRENT, HELD, pull

    try:
        result = pull(args.url, args.bundle, args.name, root=args.root, variant=args.variant, backend=args.backend)
    except (TrustError, UpdateError) as exc:
        return _refused(exc)
    if result.status == CURRENT:
        print(f"current      {result.name} version {result.version} is live")
    elif result.status == HELD:
        print(f"held         {result.name} version {result.version} was rolled back from; waiting for a newer one")
    else:
        before = f" (was version {result.previous_version})" if result.previous_version is not None else ""
        print(f"updated      {result.name} version {result.version} verified and live{before}")
    sys.stdout.flush()
    return EXIT_OK


def cmd_pull(args: argparse.Namespace) -> int:
    if args.watch is None:
        return _pull_once(args)
    while True:  # a board kept current: every failure is one line, the next round tries again
        _pull_once(args)
        time.sleep(args.watch)


def cmd_rollback(args: argparse.Namespace) -> int:
    from edgeport.runtime.fleet.pull import rollback

    try:
        result = rollback(args.bundle)
    except UpdateError as exc:
        return _refused(exc)
    print(f"rolled back  {result.name} version {result.version} is live again "
          f"(version {result.previous_version} is held until a newer one is published)")
    return EXIT_OK


def _positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}")
    return value


def add_fleet_parsers(commands: Any) -> None:
    """The four fleet subcommands of `edgeport-run`."""
    keys = commands.add_parser("keys", help="make a fleet's signing keys and the root.json its devices trust")
    keys.add_argument("key_dir", metavar="KEY_DIR", help="a new folder for root.key, online.key (0600) and root.json")
    keys.set_defaults(func=cmd_keys)

    pub = commands.add_parser("publish", help="add a bundle to a signed TUF repository folder (any static HTTP "
                              "server serves it)")
    pub.add_argument("bundle", nargs="?", metavar="BUNDLE",
                     help="bundle folder (without it: only re-sign, e.g. daily, so the timestamp stays fresh)")
    pub.add_argument("--repo", required=True, metavar="REPO_DIR", help="the repository folder (made when new)")
    pub.add_argument("--keys", required=True, metavar="KEY_DIR", help="the folder edgeport-run keys wrote")
    pub.add_argument("--name", help="the name devices pull it by (default: the bundle's task)")
    pub.add_argument("--pack", action="store_true", help="publish the device bundle `edgeport-run pack` writes (no "
                     "keras/; the recommended variant unless --variant names others) instead of the whole folder")
    pub.add_argument("--variant", nargs="+", action="extend", metavar="KEY", help="with --pack: the variants to take")
    pub.add_argument("--targets-days", type=_positive_number, default=90, metavar="DAYS", help="targets expiry (default 90)")
    pub.add_argument("--snapshot-days", type=_positive_number, default=7, metavar="DAYS", help="snapshot expiry (default 7)")
    pub.add_argument("--timestamp-days", type=_positive_number, default=1, metavar="DAYS", help="timestamp expiry (default 1)")
    pub.set_defaults(func=cmd_publish)

    pull = commands.add_parser("pull", help="install the newest signed version of a bundle: verify, swap, keep "
                               "the previous one")
    pull.add_argument("url", metavar="URL", help="the repository's base URL (the folder publish wrote)")
    pull.add_argument("bundle", metavar="BUNDLE_DIR", help="the live bundle folder on this device")
    pull.add_argument("--name", required=True, help="the bundle's name in the repository")
    pull.add_argument("--root", help="root.json to trust (the first time only; the device keeps its own copy)")
    pull.add_argument("--variant", help="check only this variant's golden samples (default: all that run here)")
    pull.add_argument("--backend", help="check on this engine: litert, tflite-runtime, tf-lite, onnxruntime")
    pull.add_argument("--watch", type=_positive_number, metavar="SECONDS", help="pull again every SECONDS, until stopped")
    pull.set_defaults(func=cmd_pull)

    back = commands.add_parser("rollback", help="bring back the bundle that was live before the last pull")
    back.add_argument("bundle", metavar="BUNDLE_DIR", help="the live bundle folder on this device")
    back.set_defaults(func=cmd_rollback)
