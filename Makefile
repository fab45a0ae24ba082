# torch==2.13.0 first: it installs the CPU build from a local file; any other spec pulls CUDA wheels.
PYTHON ?= python3
PIP = $(PYTHON) -m pip

.PHONY: install test test-slow quickstart lint bench

install:
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[dev]"

test: install
	HF_HUB_OFFLINE=1 $(PYTHON) -m pytest -q

test-slow: install
	HF_HUB_OFFLINE=1 $(PYTHON) -m pytest -q -m slow

quickstart: install
	HF_HUB_OFFLINE=1 $(PYTHON) -m hf_mtl train recipes/quickstart.yaml

lint:
	$(PYTHON) -m ruff check hf_mtl tests bench
