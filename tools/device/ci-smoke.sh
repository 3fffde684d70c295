#!/usr/bin/env bash
# The CI smoke run on the emulated Raspberry Pi (arm64): one small model per engine (LiteRT,
# tflite-runtime 2.14, onnxruntime), run inside and compared with the host, and `edgeport-run serve`
# answering /healthz and a prediction inside (tools/device/serve_check.py), `edgeport-run verify` on
# golden samples inside (tools/device/verify_check.py); no test suite.
# Run after `make test` (it needs .venv, .venv-device and build/runtime-models). Builds the userland
# on first use (minutes), reuses it after. Where binfmt_misc or chroot is not allowed it prints one
# line and exits 0. The full run is `make test-arm64`.
set -euo pipefail
cd "$(dirname "$0")/../.."
export EDGEPORT_RUNTIME_MODELS=${EDGEPORT_RUNTIME_MODELS:-$PWD/build/runtime-models}
SMOKE=1 exec tools/device/test-device.sh arm64
