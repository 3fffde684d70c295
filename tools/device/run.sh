#!/usr/bin/env bash
# Run one command on the emulated device, with the checkout at /src (read-only), the runtime test
# models at /models and build/ARCH/out at /out (writable), e.g.
#   tools/device/run.sh arm64 /opt/venv-tflite/bin/python -m edgeport.runtime info /models/text_binary
# The userland must exist (make test-arm64 builds it). Mounts live only as long as the command.
set -euo pipefail
ARCH=${1:?usage: run.sh arm64|armv7 COMMAND...}
shift
source "$(dirname "$0")/common.sh"
[ -f "$WORK/stamps/userland" ] || { echo "no $ARCH userland yet: run make test-$ARCH first" >&2; exit 1; }
enter_namespace "$ARCH" "$@"
mount_device
MODELS=$(realpath -m "${EDGEPORT_RUNTIME_MODELS:-$REPO/build/runtime-models}")
[ -d "$MODELS" ] && bind_dir "$MODELS" /models ro
mkdir -p "$WORK/out" && bind_dir "$WORK/out" /out rw
in_chroot -C /src EDGEPORT_RUNTIME_MODELS=/models "$@"
