# Two commands set everything up on a fresh machine:
#   make demo   create the environment and run the main job (edgewise pipeline ecg) on the shipped defaults
#   make test   create the environment and run the tests: host venv, the bare device venv (newest and
#               oldest declared runtimes), the ISA-dependent tests on an emulated AVX2 x86 and arm64, then
#               the device tests (deploy over SSH to an emulated arm64 Pi in a network namespace)
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS := host,analysis,audio,serial,tflite,dev
STAMP := $(VENV)/.installed

.PHONY: demo test test-bare env clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[$(EXTRAS)]'
	touch $@

env: $(STAMP)

demo: $(STAMP)
	$(BIN)/edgewise pipeline ecg --out out/ecg
	$(BIN)/edgewise pipeline mosquito --out out/mosquito

test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not device" tests
	bash scripts/test-bare.sh
	bash scripts/test-isa.sh
	$(BIN)/python -m pytest -q -m device tests/devices

clean:
	rm -rf $(VENV) .venv-bare out
