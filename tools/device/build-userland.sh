#!/usr/bin/env bash
# Build, once, a Debian bookworm userland for ARCH (arm64 | armv7) under build/ARCH/root:
# debootstrap --foreign on the host, then the second stage inside, emulated by QEMU.
# A second run finds build/ARCH/stamps/userland and does nothing. Needs root.
set -euo pipefail
ARCH=${1:-arm64}
source "$(dirname "$0")/common.sh"

if [ -f "$WORK/stamps/userland" ]; then
  log "userland ready: $ROOT ($(cat "$WORK/stamps/userland"))"
  exit 0
fi
enter_namespace "$@"

case "$ARCH" in
  arm64) INCLUDE=python3,python3-venv,python3-pip ;;
  armv7) INCLUDE=python3,python3-venv,python3-pip,python3-numpy,python3-pil ;;  # no numpy/Pillow armv7 wheels on PyPI
esac
mkdir -p "$WORK/logs" "$WORK/stamps"
if [ -e "$ROOT" ]; then  # a half-built userland from an interrupted run: start over
  if findmnt -rn -o TARGET | grep -q "^$ROOT"; then
    log "something is mounted below $ROOT; refusing to delete it"; exit 1
  fi
  log "removing an unfinished userland"
  rm -rf --one-file-system "$ROOT"
fi

start=$(date +%s)
mirror=$(debian_mirror)
log "debootstrap first stage ($DEB_ARCH, $SUITE, $mirror)"
debootstrap --arch="$DEB_ARCH" --foreign --variant=minbase --include="$INCLUDE" \
  "$SUITE" "$ROOT" "$mirror" >"$WORK/logs/debootstrap-1.log" 2>&1 \
  || { tail -n 20 "$WORK/logs/debootstrap-1.log" >&2; exit 1; }
cp "$(command -v "$QEMU_BIN")" "$ROOT/usr/bin/"
log "debootstrap second stage, emulated (the long part: minutes)"
in_chroot /debootstrap/debootstrap --second-stage >"$WORK/logs/debootstrap-2.log" 2>&1 \
  || { tail -n 20 "$WORK/logs/debootstrap-2.log" >&2; exit 1; }
rm -rf "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/lib/apt/lists/*

python=$(in_chroot python3 -c 'import platform, sys; print(platform.machine(), sys.version.split()[0])')
took=$(( $(date +%s) - start ))
echo "built $(date -u +%FT%TZ) in ${took}s; python: $python" >"$WORK/stamps/userland"
log "userland built in ${took}s ($python), $(du -sh --one-file-system "$ROOT" | cut -f1)"
