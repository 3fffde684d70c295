"""Signed fleet updates with python-tuf (the `fleet` extra): publish bundles to a TUF repository in a
plain folder, pull them on every board with verification, an atomic swap and rollback.

    keys        the offline root key, the online key, the root.json devices trust
    repository  `publish`: targets, snapshot and timestamp metadata signed with the online key
    archive     a bundle as one deterministic tar of the files a device reads
    device      what a board keeps beside its live bundle; the swap that installs one
    pull        `pull` (refresh, download, stage, verify, swap) and `rollback`
    trust       `runtime.load(..., trusted_root=...)`: a bundle's manifest must be in signed targets
"""
