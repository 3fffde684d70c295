# edgeport — every target makes the virtual environment it needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DEVICE_VENV := .venv-device
DEVICE_PY := $(DEVICE_VENV)/bin/python
ARTIFACTS ?= artifacts
# Real data: an explicit EDGEPORT_DATA_DIR wins, else ../shared/data when it exists.
EDGEPORT_DATA_DIR ?= $(if $(wildcard ../shared/data),$(abspath ../shared/data),)
export EDGEPORT_DATA_DIR
export TF_CPP_MIN_LOG_LEVEL ?= 2
PYTEST_ARGS ?=

.PHONY: setup setup-device demo train bundles test test-device test-onednn lint runtime-models bench bench-pets-a1 bench-short clean fuzz soak

setup: $(VENV)/.installed

# Editable installs in setuptools' strict mode (`editable_mode=strict`): a tree of links to the sources under
# build/__editable__.*/edgeport, which type checkers and editors follow; the default mode's import hook they
# cannot (mypy: "Cannot find implementation or library stub for module named edgeport.runtime..."). A file
# added to or removed from the packages needs a reinstall: PACKAGE_FILES changes when their list does.
PACKAGE_FILES := build/.package-files
$(shell mkdir -p build && find train export runtime -type f -not -path '*/__pycache__/*' | sort > $(PACKAGE_FILES).new \
  && { cmp -s $(PACKAGE_FILES).new $(PACKAGE_FILES) && rm -f $(PACKAGE_FILES).new || mv $(PACKAGE_FILES).new $(PACKAGE_FILES); })
EDITABLE := --config-settings editable_mode=strict -e

$(VENV)/.installed: pyproject.toml $(PACKAGE_FILES)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(EDITABLE) ".[train,litert,onnx,image,serve,web,mobile,fleet,dev]"
	touch $@

# A device-like environment: no TensorFlow, numpy 1.x, tflite-runtime, onnxruntime, Pillow.
setup-device: $(DEVICE_VENV)/.installed

$(DEVICE_VENV)/.installed: pyproject.toml $(PACKAGE_FILES)
	test -x $(DEVICE_PY) || $(PYTHON) -m venv $(DEVICE_VENV)
	$(DEVICE_PY) -m pip install --quiet --upgrade pip
	$(DEVICE_PY) -m pip install --quiet $(EDITABLE) ".[tflite,onnx,image,fleet,dev]"
	touch $@

TASKS := imdb reuters pets
MODELS := $(TASKS:%=$(ARTIFACTS)/%/keras/model.keras)

# Trains a task when its model is missing, or the environment or any file of train/ changed.
$(ARTIFACTS)/%/keras/model.keras: $(VENV)/.installed $(wildcard train/*.py)
	$(PY) -m edgeport.train $* --out $(ARTIFACTS)/$*

train: $(MODELS)

# Trains, exports every variant (each checked against Keras; a variant that misses its tolerance is
# marked failed in manifest.json and report.md without stopping the demo), then a short benchmark.
demo: train bundles
	@echo; echo "== trained models"; $(PY) -m edgeport.train.summary $(ARTIFACTS)
	@echo; $(PY) -m edgeport.export.summary $(ARTIFACTS)
	@$(MAKE) --no-print-directory bench-short

# The runtime tests run twice: here, and in the device environment (no TensorFlow) against
# models the main environment builds once (tests/runtime/make_models.py) and exports with export/.
RUNTIME_MODELS := build/runtime-models
export EDGEPORT_RUNTIME_MODELS := $(abspath $(RUNTIME_MODELS))

$(RUNTIME_MODELS)/MODELS.json: $(VENV)/.installed $(wildcard tests/runtime/make_*.py) $(wildcard export/*.py) \
		$(wildcard runtime/*.py) $(wildcard runtime/backends/*.py) $(wildcard runtime/preprocess/*.py)
	rm -rf $(RUNTIME_MODELS)
	$(PY) tests/runtime/make_models.py $(RUNTIME_MODELS)

runtime-models: $(RUNTIME_MODELS)/MODELS.json

# Both halves run whatever the first gives; the target fails if either failed, and says which.
test: setup runtime-models
	@failed=""; $(PY) -m pytest --ignore=tests/web $(PYTEST_ARGS) || failed="main"; \
	$(MAKE) --no-print-directory test-device || failed="$${failed:+$$failed, }device"; \
	if [ -n "$$failed" ]; then echo "make test: failed: $$failed"; exit 1; fi

test-device: setup-device runtime-models
	$(DEVICE_PY) -m pytest tests/runtime tests/device $(PYTEST_ARGS)

# TensorFlow turns oneDNN's kernels on by default on some CPUs (AVX-512) and not on others: they print
# start-up lines and round differently. What a CLI prints on stderr and the real-data results are checked
# with oneDNN off and on, whatever this CPU is (`make test` runs them under the CPU's own default).
# ONEDNN=1 runs only the second setting (CI: `make test` ran with it off).
ONEDNN ?= 0 1
ONEDNN_TESTS ?= -m "stderr or realdata"
test-onednn: setup runtime-models
	@for v in $(ONEDNN); do echo "== TF_ENABLE_ONEDNN_OPTS=$$v"; \
	  TF_ENABLE_ONEDNN_OPTS=$$v $(PY) -m pytest --ignore=tests/web $(ONEDNN_TESTS) $(PYTEST_ARGS) || exit 1; done

# ruff, configured in pyproject.toml ([tool.ruff]): pycodestyle, pyflakes, blind excepts and bugbear;
# then import-linter's layer contracts ([tool.importlinter]).
lint: setup
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports

# Benchmarks (runtime/bench/): every variant of the demo bundles side by side, the engine called
# directly and Keras as baselines; each bundle gets bench.json, a section in report.md and report_bench.png.
# The manifests keep export's recommendation (BENCH_ARGS=--recommend writes the fastest instead).
# Bundles are trained and exported first when missing.
BENCH_ARGS ?=
BENCH := $(PY) -m edgeport.runtime bench
BUNDLES := $(TASKS:%=$(ARTIFACTS)/%/manifest.json)
PETS_A1 := $(ARTIFACTS)/pets-a1

$(ARTIFACTS)/%/manifest.json: $(ARTIFACTS)/%/keras/model.keras
	$(PY) -m edgeport.export $(ARTIFACTS)/$* --allow-failures

bundles: $(BUNDLES)

bench: setup $(BUNDLES) bench-pets-a1
	$(BENCH) $(ARTIFACTS)/imdb --threads 1,2 --batch 1,32 --json $(ARTIFACTS)/imdb/bench.json $(BENCH_ARGS)
	$(BENCH) $(ARTIFACTS)/reuters --threads 1,2 --batch 1,32 --json $(ARTIFACTS)/reuters/bench.json $(BENCH_ARGS)
	$(BENCH) $(ARTIFACTS)/pets --threads 1,2 --batch 1,8 --json $(ARTIFACTS)/pets/bench.json $(BENCH_ARGS)

# The lecture's size: MobileNet alpha 1.0 at 224x224 (random base weights: speed and size only),
# TFLite fp32 against int8 at batch 1, one thread.
$(PETS_A1)/keras/model.keras: $(VENV)/.installed
	$(PY) -m edgeport.train pets --alpha 1.0 --base-weights none --epochs 1 --out $(PETS_A1) --quiet

$(PETS_A1)/manifest.json: $(PETS_A1)/keras/model.keras
	$(PY) -m edgeport.export $(PETS_A1) --formats tflite --variants fp32,int8 --allow-failures

bench-pets-a1: setup $(PETS_A1)/manifest.json
	$(BENCH) $(PETS_A1) --variants tflite-fp32,tflite-int8 --threads 1 --batch 1 --json $(PETS_A1)/bench.json $(BENCH_ARGS)

# A short bench for the end of `make demo`: batch 1, one thread, fewer repeats, no Keras baseline.
bench-short: setup $(BUNDLES)
	@for task in $(TASKS); do echo; $(BENCH) $(ARTIFACTS)/$$task --threads 1 --batch 1 --warmup 2 --min-time 0.05 --no-keras || exit 1; done

clean:
	rm -rf $(ARTIFACTS) build .pytest_cache

# Property-based fuzzing of the runtime (tests/runtime/test_fuzz*.py) at FUZZ_EXAMPLES examples per
# property, fixed seed; `make test` runs the same properties at a few hundred examples.
FUZZ_EXAMPLES ?= 10000
fuzz: setup runtime-models
	EDGEPORT_FUZZ=fuzz EDGEPORT_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -q -p no:cacheprovider \
		tests/runtime/test_fuzz.py tests/runtime/test_fuzz_files.py --durations=0 $(PYTEST_ARGS)

# Soak (tools/soak.py): one model per variant of each bundle, 8 threads, valid and invalid inputs, SOAK_SECONDS
# (`make test` runs 20 s of it: tests/runtime/test_soak.py); writes build/soak.json.
SOAK_SECONDS ?= 600
SOAK_BUNDLES ?= $(RUNTIME_MODELS)/text_binary $(RUNTIME_MODELS)/text_topics $(RUNTIME_MODELS)/image
soak: setup runtime-models
	$(PY) tools/soak.py $(SOAK_BUNDLES) --seconds $(SOAK_SECONDS) --threads 8 --json build/soak.json

# The runtime on an emulated Raspberry Pi 4 (arm64, QEMU user mode, Debian bookworm): its tests and
# every bundle variant, compared with this host. Needs root, binfmt_misc and chroot (else it skips
# with one line); the userland and the aarch64 wheels are cached under build/arm64. See tools/device/.
# test-armv7: the same on 32-bit Raspberry Pi OS's architecture, tflite-runtime only (see tools/device/).
# The emulated Pi's pins, tools/device/requirements-*.txt: resolved by uv from the .in files beside them for
# CPython 3.11 on the Pi's platform, from PyPI as it stood on PINS_DATE (move it to take newer releases).
PINS_DATE ?= 2026-12-04
UV_COMPILE = cd tools/device && $(abspath $(VENV))/bin/uv pip compile --quiet --no-config --python-version 3.11 \
  --exclude-newer $(PINS_DATE)
.PHONY: device-pins
device-pins: setup
	$(UV_COMPILE) --python-platform aarch64-manylinux_2_36 requirements-litert.in -o requirements-litert.txt
	$(UV_COMPILE) --python-platform aarch64-manylinux_2_36 requirements-tflite.in -o requirements-tflite.txt
	$(UV_COMPILE) --python-platform x86_64-manylinux_2_36 --no-emit-package numpy \
	  requirements-tflite-armv7.in -o requirements-tflite-armv7.txt

.PHONY: test-arm64 test-armv7
test-arm64: setup setup-device runtime-models
	ARTIFACTS=$(abspath $(ARTIFACTS)) tools/device/test-device.sh arm64

test-armv7: setup setup-device runtime-models
	ARTIFACTS=$(abspath $(ARTIFACTS)) tools/device/test-device.sh armv7

# The HTTP service under load, on loopback only (tools/loadtest.py): 8 client threads, a fixed mix
# of valid and invalid requests (2,000 each on text bundles, 250 on image bundles, at most 60 s a run),
# batching on, without waiting, and off; every status and answer checked against runtime.load().predict.
# Serves the demo bundles when they exist, else the runtime tests' small ones.
LOADTEST_DEMO := $(wildcard $(ARTIFACTS)/imdb/manifest.json $(ARTIFACTS)/pets/manifest.json)
LOADTEST_BUNDLES ?= $(dir $(or $(LOADTEST_DEMO),$(RUNTIME_MODELS)/text_binary/manifest.json $(RUNTIME_MODELS)/image/manifest.json))
LOADTEST_ARGS ?=
.PHONY: loadtest
# Then the same bundles under the probe's hostile requests held to a 1 GB limit (tools/serve_memory.py):
# peak RSS, /healthz p99 and log growth beside the throughput figures.
loadtest: setup $(if $(LOADTEST_DEMO),,runtime-models)
	$(PY) tools/loadtest.py $(LOADTEST_BUNDLES) $(LOADTEST_ARGS)
	$(PY) tools/serve_memory.py $(LOADTEST_BUNDLES) --limit-mb 1024 --nofile 1024 --rlimit-data

# Debian's headless Chromium and its driver, for the browser test of the serve page
# (tests/serve/test_serve_page.py skips without them). Needs root and apt-get.
.PHONY: browser
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }
	@chromium --version 2>/dev/null | head -n1

# The browser target in real headless Chromium (tests/web, once here, not in `make test`): Chromium and its
# driver from apt where missing; the engines' npm tarballs are fetched once into ~/.cache/edgeport/npm.
.PHONY: test-web
test-web: setup runtime-models browser
	$(PY) -m pytest tests/web $(PYTEST_ARGS)
