#!/usr/bin/env bash
# `make test-arm64` (tools/device/test-device.sh arm64): the runtime's tests, and every variant of
# the bundles, on an emulated 64-bit Raspberry Pi (Cortex-A72, Debian bookworm, the aarch64 wheels
# a Pi installs), compared with the same variants on this x86-64 host.
# `make test-armv7` (... armv7): the same on 32-bit Raspberry Pi OS's architecture (armhf), with
# tflite-runtime 2.14 only, the one engine that has an armv7l wheel.
# Skips with one line where binfmt_misc or chroot is not allowed.
#
#   EDGEPORT_RUNTIME_MODELS  the runtime test models the host exported (default build/runtime-models)
#   ARTIFACTS                demo bundles: compared too, and given a compatibility section in report.md
#   SMOKE=1                  the CI subset: one small model per engine, the serve and verify checks, no test suite
#                            (ci-smoke.sh)
set -euo pipefail
ARCH=${1:-${ARCH:-arm64}}
source "$(dirname "$0")/common.sh"
MODELS=$(realpath -m "${EDGEPORT_RUNTIME_MODELS:-$REPO/build/runtime-models}")
ARTIFACTS=$(realpath -m "${ARTIFACTS:-$REPO/artifacts}")
SMOKE=${SMOKE:-}
OUT=$WORK/out
HOST_PY=$REPO/.venv/bin/python
DEVICE_PY=$REPO/.venv-device/bin/python
SETS=(litert tflite)
# The slow tests (the 20-second soak and its memory bound) run on the host: time and memory measured
# under QEMU say nothing about a Pi.
PYTEST_SELECT=(-m "not slow")
if [ "$ARCH" = armv7 ]; then
  SETS=(tflite)
  # No onnxruntime for armv7: leave out the tests that need it. The runtime tests have no marker for
  # that yet, so these are named: each loads an .onnx model or expects onnx-fp32 to be chosen.
  PYTEST_SELECT+=(-k "not onnx")
  for t in test_bench.py::test_bench_json_has_every_figure test_bench.py::test_bench_marks_only_a_passing_variant \
           test_runtime_api.py::test_sha256_and_size_are_checked_before_loading \
           test_runtime_api.py::test_default_variant_choice test_runtime_api.py::test_recommended_variant_is_loaded \
           test_runtime_cli.py::test_info_text_and_json test_runtime_cli.py::test_predict_texts_and_text_file \
           test_runtime_cli.py::test_predict_bare_model_on_npy \
           test_runtime_errors.py::test_bad_files_and_inputs_raise_clear_errors_in_a_subprocess \
           test_runtime_isolation.py::test_no_tensorflow_or_keras_in_sys_modules \
           test_cpu.py::test_info_names_the_int8_kernel test_import.py::test_a_model_that_is_neither_text_nor_image_is_refused \
           "test_manifest_specs.py::test_export_wrote_what_the_engine_reads[text_topics]" \
           test_tensor_bundle.py::test_golden_samples_replay_on_this_engine test_tensor_bundle.py::test_verify_passes_on_the_bundle_export_wrote \
           test_verify.py::test_a_bundle_without_golden_samples_says_re_export; do
    PYTEST_SELECT+=(--deselect "tests/runtime/$t")
  done
fi

bundles_in() {  # DIR PREFIX: each bundle (a folder with manifest.json) of DIR, named PREFIX/name
  local m
  for m in "$1"/*/manifest.json; do
    [ -f "$m" ] && echo "$2/$(basename "$(dirname "$m")")"
  done
  return 0
}
engines_of() { case "$1" in litert) echo litert,onnxruntime ;; tflite) echo tflite-runtime ;; esac; }
timed() {  # LABEL COMMAND...: run COMMAND, and record how long it took under LABEL
  local label=$1 start=$SECONDS rc=0
  shift
  "$@" || rc=$?
  echo "$label $((SECONDS - start))s" >>"$OUT/timings.txt"
  return "$rc"
}

if [ -z "${EDGEPORT_DEVICE_NS:-}" ]; then
  export EDGEPORT_DEVICE_START=$(date +%s)
  reason=$(unavailable_reason)
  if [ -n "$reason" ]; then
    echo "test-$ARCH: skipped, this machine cannot emulate $MACHINE: $reason"
    exit 0
  fi
  [ -f "$MODELS/MODELS.json" ] || { echo "no runtime test models in $MODELS: run make runtime-models" >&2; exit 1; }
  "$REPO/tools/device/build-userland.sh" "$ARCH"
  "$REPO/tools/device/fetch-wheels.sh" "$ARCH"
  rm -rf "$OUT" && mkdir -p "$OUT"
  log "probing every variant on this host (x86-64)"
  mapfile -t host_models < <(bundles_in "$MODELS" "$MODELS")
  [ -n "$SMOKE" ] && host_models=("$MODELS/text_binary")
  mapfile -t host_demo < <(bundles_in "$ARTIFACTS" "$ARTIFACTS")
  for set in "${SETS[@]}"; do
    py=$HOST_PY; [ "$set" = tflite ] && py=$DEVICE_PY
    [ -x "$py" ] || { log "no $py: skipping the host's $set probes"; continue; }
    "$py" -m edgeport.runtime.compat "${host_models[@]}" --engines "$(engines_of "$set")" --save "$OUT/models-x86_64-$set.json" >/dev/null
    if [ ${#host_demo[@]} -gt 0 ] && [ -z "$SMOKE" ]; then
      "$py" -m edgeport.runtime.compat "${host_demo[@]}" --engines "$(engines_of "$set")" --save "$OUT/demo-x86_64-$set.json" >/dev/null
    fi
  done
fi
enter_namespace "$@"

mount_device
bind_dir "$MODELS" /models ro
[ -d "$ARTIFACTS" ] && bind_dir "$ARTIFACTS" /artifacts ro
bind_dir "$OUT" /out rw
timed venvs install_venvs

mapfile -t models < <(bundles_in "$MODELS" /models)
[ -n "$SMOKE" ] && models=(/models/text_binary)
mapfile -t demo < <(bundles_in "$ARTIFACTS" /artifacts)
[ -n "$SMOKE" ] && demo=()
failed=0
for set in "${SETS[@]}"; do
  py=/opt/venv-$set/bin/python
  log "$set venv: machine and engines"
  in_chroot "$py" -c "
import importlib.metadata as md, platform, sys
machine = platform.machine()
print('platform.machine() =', machine, '| python', sys.version.split()[0], '|',
      ', '.join(f'{d} {md.version(d)}' for d in ('numpy', 'ai-edge-litert', 'tflite-runtime', 'onnxruntime', 'pillow')
                if any(x.metadata['Name'].lower() == d for x in md.distributions())))
sys.exit(0 if machine == '$MACHINE' else f'expected $MACHINE, got {machine}')"
  if [ -z "$SMOKE" ]; then
    log "$set venv: runtime test suite (tests/runtime), emulated"
    timed "pytest-$set" in_chroot -C /src EDGEPORT_RUNTIME_MODELS=/models "$py" -m pytest tests/runtime \
      -p no:cacheprovider -q "${PYTEST_SELECT[@]}" ${PYTEST_ARGS:-} || failed=1
  fi
  log "$set venv: probing every variant, emulated"
  engines=$(engines_of "$set")
  [ "$ARCH" = armv7 ] && engines=tflite-runtime,litert,onnxruntime  # the matrix shows the two missing
  timed "probes-$set" in_chroot -C /src "$py" -m edgeport.runtime.compat "${models[@]}" \
    --engines "$engines" --save "/out/models-$MACHINE-$set.json" >/dev/null || failed=1
  if [ "$set" = litert ]; then
    log "$set venv: edgeport-run serve answers /healthz and a prediction, emulated"
    timed "serve-$set" in_chroot -C /src "$py" tools/device/serve_check.py /models/text_binary || failed=1
  fi
  log "$set venv: edgeport-run verify (golden samples), emulated"
  timed "verify-$set" in_chroot -C /src "$py" tools/device/verify_check.py /models/text_binary /models/text_topics \
    /models/own_two_input || failed=1
  if [ ${#demo[@]} -gt 0 ]; then
    timed "probes-demo-$set" in_chroot -C /src "$py" -m edgeport.runtime.compat "${demo[@]}" \
      --engines "$engines" --save "/out/demo-$MACHINE-$set.json" >/dev/null || failed=1
  fi
done
unmount_all

log "host vs $ARCH: every variant on the same inputs"
compare() {  # NAME BUNDLE...: the matrix of the NAME probes (this and earlier runs on every emulated
  local name=$1  # machine), and host against this run's device
  shift
  local probes
  shopt -s nullglob  # other machines' probes are there only when they have run
  probes=("$REPO"/build/*/out/"$name"-*.json "$OUT/$name"-*.json)
  shopt -u nullglob
  "$HOST_PY" -m edgeport.runtime.compat "$@" --no-probe --probes "${probes[@]}" ${WRITE_REPORT:-} >"$OUT/matrix-$name.md"
  "$HOST_PY" "$REPO/tools/device/compare_machines.py" "$OUT/$name"-*.json >>"$OUT/matrix-$name.md" || failed=1
}
mapfile -t host_models < <(bundles_in "$MODELS" "$MODELS")
[ -n "$SMOKE" ] && host_models=("$MODELS/text_binary")
compare models "${host_models[@]}"
mapfile -t host_demo < <(bundles_in "$ARTIFACTS" "$ARTIFACTS")
if [ ${#host_demo[@]} -gt 0 ] && [ -z "$SMOKE" ]; then
  WRITE_REPORT=--write-report compare demo "${host_demo[@]}"
fi
cat "$OUT"/matrix-*.md
log "timings: $(tr '\n' ' ' <"$OUT/timings.txt")"
log "disk: userland $(du -sh --one-file-system "$ROOT" | cut -f1), wheels $(du -sh "$WORK/wheels" | cut -f1)"
verdict=passed
[ "$failed" = 0 ] || verdict=FAILED
log "test-$ARCH${SMOKE:+ (smoke)} $verdict in $(( $(date +%s) - EDGEPORT_DEVICE_START ))s"
exit "$failed"
