#!/usr/bin/env bash
# Download, on the host, the CPython 3.11 wheels a Raspberry Pi would install (aarch64, or armv7l
# with ARCH=armv7) into one wheelhouse, build/ARCH/wheels/, that the venvs inside install from
# with --no-index. Only PyPI is asked: the host's pip configuration (local find-links, extra
# indexes) is switched off.
# Without the newer manylinux tags pip finds no tflite-runtime 2.14 and falls back to ai-edge-litert 1.4.
set -euo pipefail
ARCH=${1:-arm64}
source "$(dirname "$0")/common.sh"

stamp=$WORK/stamps/wheels
sets=(litert tflite)
[ "$ARCH" = armv7 ] && sets=(tflite)
want=$(for set in "${sets[@]}"; do cat "$REPO/tools/device/requirements-$set$REQ_SUFFIX.txt"; done | sha256sum | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  log "wheels ready: $WORK/wheels"
  exit 0
fi
pip=("${PYTHON:-python3}" -m pip)
[ -x "$REPO/.venv/bin/python" ] && pip=("$REPO/.venv/bin/python" -m pip)
platforms=()
for tag in manylinux2014 manylinux_2_17 manylinux_2_27 manylinux_2_28 manylinux_2_31 manylinux_2_34; do
  platforms+=(--platform "${tag}_$MACHINE")
done
nodeps=()
[ "$ARCH" = armv7 ] && nodeps=(--no-deps)  # numpy/Pillow come from Debian there
mkdir -p "$WORK/wheels" "$WORK/stamps"
for set in "${sets[@]}"; do
  log "downloading the $set wheel set"
  env -u PIP_FIND_LINKS -u PIP_EXTRA_INDEX_URL -u PIP_INDEX_URL PIP_CONFIG_FILE=/dev/null \
    "${pip[@]}" download --quiet --only-binary=:all: "${platforms[@]}" --python-version 311 \
    --implementation cp --abi cp311 "${nodeps[@]}" -d "$WORK/wheels" \
    -r "$REPO/tools/device/requirements-$set$REQ_SUFFIX.txt"
done
echo "$want" >"$stamp"
log "wheels: $(ls "$WORK/wheels" | wc -l) files, $(du -sh "$WORK/wheels" | cut -f1)"
