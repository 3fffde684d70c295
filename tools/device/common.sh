# Shared settings and helpers for the emulated-device scripts. Source it after setting ARCH
# (arm64 — a 64-bit Raspberry Pi 4, Cortex-A72 — or armv7 — 32-bit Raspberry Pi OS, armhf).
#
# Everything lives under build/$ARCH/ (ignored by git):
#   root/     the Debian bookworm userland            cpu/     the fake /proc/cpuinfo and /sys files
#   wheels/   the device's wheels, downloaded here     logs/    set-up logs
#   stamps/   what has been done (a second run reuses it)   out/   probes and matrices of the last run
# Mounts are made in a private mount namespace (unshare) *and* undone by a trap, so neither a
# failure nor a kill leaves the host's /dev or the checkout mounted inside build/.

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ARCH=${ARCH:-arm64}
case "$ARCH" in
  arm64) DEB_ARCH=arm64 QEMU_BIN=qemu-aarch64-static BINFMT=qemu-aarch64 QEMU_CPU_MODEL=cortex-a72 MACHINE=aarch64
         CPU_PART=0xd08 CPU_ARCH=8 CPU_FEATURES="fp asimd evtstrm crc32 cpuid" REQ_SUFFIX= ;;
  armv7) DEB_ARCH=armhf QEMU_BIN=qemu-arm-static BINFMT=qemu-arm QEMU_CPU_MODEL=cortex-a15 MACHINE=armv7l
         CPU_PART=0xc0f CPU_ARCH=7 CPU_FEATURES="half thumb fastmult vfp edsp neon vfpv3 tls vfpv4 idiva idivt lpae evtstrm" REQ_SUFFIX=-armv7 ;;
  *) echo "ARCH must be arm64 or armv7, not '$ARCH'" >&2; exit 2 ;;
esac
SUITE=bookworm
WORK=${EDGEPORT_DEVICE_BUILD:-$REPO/build/$ARCH}
ROOT=$WORK/root
CHROOT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
HOST_PACKAGES="qemu-user-static binfmt-support debootstrap"

log() { echo "[device $ARCH $(date +%H:%M:%S)] $*" >&2; }

# Why this machine cannot run the emulated device, or nothing when it can. Installs the host
# packages with apt-get when they are missing and we are root; registers the binfmt handler.
unavailable_reason() {
  [ -z "${EDGEPORT_NO_EMULATION:-}" ] || { echo "EDGEPORT_NO_EMULATION is set"; return; }
  [ "$(uname -s)" = Linux ] || { echo "not Linux"; return; }
  [ "$(id -u)" = 0 ] || { echo "needs root (chroot, mount, binfmt_misc)"; return; }
  if ! command -v "$QEMU_BIN" >/dev/null || ! command -v debootstrap >/dev/null || ! command -v update-binfmts >/dev/null; then
    if command -v apt-get >/dev/null; then
      log "installing host packages: $HOST_PACKAGES"
      { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $HOST_PACKAGES; } >"${TMPDIR:-/tmp}/edgeport-device-apt.log" 2>&1 \
        || { echo "apt-get install $HOST_PACKAGES failed (see ${TMPDIR:-/tmp}/edgeport-device-apt.log)"; return; }
    else
      echo "$QEMU_BIN/debootstrap/update-binfmts missing and no apt-get to install $HOST_PACKAGES"; return
    fi
  fi
  local misc=/proc/sys/fs/binfmt_misc
  [ -e "$misc/register" ] || mount -t binfmt_misc binfmt_misc "$misc" 2>/dev/null \
    || { echo "binfmt_misc is not mounted and cannot be mounted here"; return; }
  [ -e "$misc/$BINFMT" ] || update-binfmts --enable "$BINFMT" >/dev/null 2>&1 || true
  grep -qx enabled "$misc/$BINFMT" 2>/dev/null || { echo "the $BINFMT binfmt handler cannot be enabled"; return; }
  unshare --mount true 2>/dev/null || { echo "mount namespaces (unshare --mount) are not allowed here"; return; }
  chroot / true 2>/dev/null || { echo "chroot is not allowed here"; return; }
}

# The Debian mirror this machine's apt sources use (first non-security deb.debian.org URI).
debian_mirror() {
  local uri
  uri=$(grep -rhoE 'https?://[^ ]*deb\.debian\.org/debian/?' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
        | grep -v -- '-security' | head -n1 || true)
  echo "${DEBIAN_MIRROR:-${uri:-http://deb.debian.org/debian}}"
}

# A Raspberry-Pi-like CPU description with as many cores as this machine really has, so the
# engines' CPU detection (cpuinfo, XNNPACK) sees an ARM core instead of the host's x86 one.
write_cpu_files() {
  local n i dir=$WORK/cpu
  n=$(nproc); mkdir -p "$dir"
  : >"$dir/cpuinfo"
  for ((i = 0; i < n; i++)); do
    if [ "$ARCH" = arm64 ]; then
      printf 'processor\t: %d\nBogoMIPS\t: 108.00\nFeatures\t: %s\nCPU implementer\t: 0x41\nCPU architecture: %s\nCPU variant\t: 0x0\nCPU part\t: %s\nCPU revision\t: 3\n\n' \
        "$i" "$CPU_FEATURES" "$CPU_ARCH" "$CPU_PART" >>"$dir/cpuinfo"
    else
      printf 'processor\t: %d\nmodel name\t: ARMv7 Processor rev 3 (v7l)\nBogoMIPS\t: 108.00\nFeatures\t: %s\nCPU implementer\t: 0x41\nCPU architecture: %s\nCPU variant\t: 0x0\nCPU part\t: %s\nCPU revision\t: 3\n\n' \
        "$i" "$CPU_FEATURES" "$CPU_ARCH" "$CPU_PART" >>"$dir/cpuinfo"
    fi
  done
  printf 'Hardware\t: BCM2835\nRevision\t: c03111\nModel\t\t: Raspberry Pi 4 Model B (emulated by QEMU, %s)\n' "$QEMU_CPU_MODEL" >>"$dir/cpuinfo"
  for f in possible present online; do echo "0-$((n - 1))" >"$dir/$f"; done
}

MOUNTED=()
mount_and_record() {  # mount ARGS... TARGET (the last argument is the mount point)
  mount "$@"
  MOUNTED+=("${!#}")
}

unmount_all() {
  local i
  for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do
    umount -R "${MOUNTED[$i]}" 2>/dev/null || umount -l "${MOUNTED[$i]}" 2>/dev/null || log "could not unmount ${MOUNTED[$i]}"
  done
  MOUNTED=()
}

# Mount what the programs inside need: /proc with the fake cpuinfo, /sys with the fake CPU lists,
# /dev, the checkout read-only at /src and the wheels read-only at /wheels.
mount_device() {
  write_cpu_files
  mkdir -p "$WORK/wheels"
  mount_and_record -t proc proc "$ROOT/proc"
  mount_and_record --bind "$WORK/cpu/cpuinfo" "$ROOT/proc/cpuinfo"
  mount_and_record -t sysfs sysfs "$ROOT/sys"
  local f
  for f in possible present online; do
    mount_and_record --bind "$WORK/cpu/$f" "$ROOT/sys/devices/system/cpu/$f"
  done
  mount_and_record --rbind /dev "$ROOT/dev"
  mount --make-rslave "$ROOT/dev"
  bind_dir "$REPO" /src ro
  bind_dir "$WORK/wheels" /wheels ro
}

bind_dir() {  # HOST_DIR TARGET ro|rw: a host folder inside the userland
  mkdir -p "$ROOT$2"
  mount_and_record --bind "$1" "$ROOT$2"
  [ "$3" = rw ] || mount -o remount,bind,ro "$ROOT$2"
}

# Run a command inside the userland with a clean environment (the host's pip settings,
# PYTHONPATH and proxies must not leak in). Extra VAR=value words may precede the command.
in_chroot() {
  env -i PATH="$CHROOT_PATH" HOME=/root LANG=C.UTF-8 TERM=dumb QEMU_CPU="$QEMU_CPU_MODEL" \
    PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PYTHONDONTWRITEBYTECODE=1 TF_CPP_MIN_LOG_LEVEL=2 \
    EDGEPORT_EMULATION="qemu-user $QEMU_CPU_MODEL" \
    chroot "$ROOT" /usr/bin/env "$@"
}

# Re-run the calling script in a private mount namespace, holding the device lock.
enter_namespace() {
  if [ -z "${EDGEPORT_DEVICE_NS:-}" ]; then
    mkdir -p "$WORK"
    exec env EDGEPORT_DEVICE_NS=1 flock "$WORK/.lock" unshare --mount --propagation private "$0" "$@"
  fi
  trap unmount_all EXIT
  trap 'exit 130' INT TERM
}

# The venvs inside the userland, from the host-downloaded wheels (--no-index), each with the
# project installed (--no-deps) from a copy of the checkout. Redone when their inputs change.
#   arm64: /opt/venv-litert (LiteRT + onnxruntime), /opt/venv-tflite (tflite-runtime 2.14 + onnxruntime)
#   armv7: /opt/venv-tflite with Debian's numpy and Pillow (--system-site-packages)
install_venvs() {
  local set want stamp sets=(litert tflite) extra=()
  [ "$ARCH" = armv7 ] && sets=(tflite) extra=(--system-site-packages)
  for set in "${sets[@]}"; do
    stamp=$WORK/stamps/venv-$set
    want=$( { cat "$REPO/tools/device/requirements-$set$REQ_SUFFIX.txt"; ls "$WORK/wheels"; } | sha256sum | cut -c1-16)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
      log "creating /opt/venv-$set"
      rm -rf "$ROOT/opt/venv-$set" "$WORK/stamps/project-$set"
      in_chroot python3 -m venv "${extra[@]}" "/opt/venv-$set"
      in_chroot "/opt/venv-$set/bin/pip" install --quiet --no-index --find-links /wheels \
        -r "/src/tools/device/requirements-$set$REQ_SUFFIX.txt"
      echo "$want" >"$stamp"
    fi
    stamp=$WORK/stamps/project-$set
    want=$(cd "$REPO" && find pyproject.toml runtime train export -name '*.py' -o -name '*.toml' | sort | xargs cat | sha256sum | cut -c1-16)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
      log "installing edgeport (--no-deps) into /opt/venv-$set"
      rm -rf "$ROOT/tmp/edgeport-src" && mkdir -p "$ROOT/tmp/edgeport-src"
      (cd "$REPO" && tar --exclude=__pycache__ -cf - pyproject.toml README.md runtime train export) | tar -xf - -C "$ROOT/tmp/edgeport-src"
      in_chroot "/opt/venv-$set/bin/pip" install --quiet --no-deps --no-index --no-build-isolation /tmp/edgeport-src
      rm -rf "$ROOT/tmp/edgeport-src"
      echo "$want" >"$stamp"
    fi
  done
}
