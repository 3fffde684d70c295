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

.PHONY: setup setup-device demo train test test-device runtime-models bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[train,litert,onnx,image,dev]"
	touch $@

# A device-like environment: no TensorFlow, numpy 1.x, tflite-runtime, onnxruntime, Pillow.
setup-device: $(DEVICE_VENV)/.installed

$(DEVICE_VENV)/.installed: pyproject.toml
	test -x $(DEVICE_PY) || $(PYTHON) -m venv $(DEVICE_VENV)
	$(DEVICE_PY) -m pip install --quiet --upgrade pip
	$(DEVICE_PY) -m pip install --quiet -e ".[tflite,onnx,image]" "pytest>=8"
	touch $@

TASKS := imdb reuters pets
MODELS := $(TASKS:%=$(ARTIFACTS)/%/keras/model.keras)

# Trains a task when its model is missing (or the environment changed); `make clean` starts over.
$(ARTIFACTS)/%/keras/model.keras: $(VENV)/.installed
	$(PY) -m train $* --out $(ARTIFACTS)/$*

train: $(MODELS)

demo: train
	@echo; echo "== trained models"; $(PY) -m train.summary $(ARTIFACTS)

# The runtime tests run twice: here, and in the device environment (no TensorFlow) against
# models the main environment builds once (tests/runtime/make_models.py).
RUNTIME_MODELS := build/runtime-models
export EDGEPORT_RUNTIME_MODELS := $(abspath $(RUNTIME_MODELS))

$(RUNTIME_MODELS)/MODELS.json: $(VENV)/.installed tests/runtime/make_models.py runtime/manifest.py
	rm -rf $(RUNTIME_MODELS)
	$(PY) tests/runtime/make_models.py $(RUNTIME_MODELS)

runtime-models: $(RUNTIME_MODELS)/MODELS.json

test: setup runtime-models
	$(PY) -m pytest $(PYTEST_ARGS)
	$(MAKE) --no-print-directory test-device

test-device: setup-device runtime-models
	$(DEVICE_PY) -m pytest tests/runtime $(PYTEST_ARGS)

bench: setup
	@echo "bench: not available yet"

clean:
	rm -rf $(ARTIFACTS) build .pytest_cache
