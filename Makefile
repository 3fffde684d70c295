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

.PHONY: setup setup-device demo train test test-device bench clean

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

train: setup
	for task in imdb reuters pets; do \
	  $(PY) -m train $$task --out $(ARTIFACTS)/$$task || exit 1; done

demo: train
	@$(PY) -m train.summary $(ARTIFACTS)

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

bench: setup
	@echo "bench: not available yet"

clean:
	rm -rf $(ARTIFACTS) build .pytest_cache
