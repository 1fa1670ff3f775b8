# MGD-SAM2 developer and user entry points. Every target installs the environment first (once).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

PYTHON ?= python3
# Paths are anchored at this file, so `make -f PATH/Makefile demo` works from any folder (runs/ and data/ go there).
ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
VENV := $(ROOT)/.venv
PY := $(VENV)/bin/python
CLI := $(VENV)/bin/mgd-sam2
STAMP := $(VENV)/.install-stamp

TORCH_PIN := torch==2.14.1 torchvision==0.29.1
SAM2_PIN := sam2==1.1.0

CONFIG ?= lightning_config.yaml
CKPT ?=
DATA_ROOT ?= data
DEMO_ARGS ?=
TRAIN_ARGS ?=

.PHONY: help install lint format test test-fast test-browser docs docs-serve demo app train benchmark clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-13s %s\n", $$1, $$2}'

$(STAMP): $(ROOT)/setup.cfg $(ROOT)/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade "setuptools>=69" wheel
	$(PY) -m pip install $(TORCH_PIN)
	# sam2 is an sdist: build it against the torch above, without its CUDA extension.
	SAM2_BUILD_CUDA=0 $(PY) -m pip install --no-build-isolation $(SAM2_PIN)
	$(PY) -m pip install -e '$(ROOT)[test,onnx,openvino,app]'
	touch $@

install: $(STAMP) ## create .venv with torch, sam2 and this package (idempotent)

lint: $(STAMP) ## check formatting and lint with ruff (settings in pyproject.toml)
	cd $(ROOT) && $(VENV)/bin/ruff format --check . && $(VENV)/bin/ruff check .

format: $(STAMP) ## format the tree and apply ruff's safe fixes
	cd $(ROOT) && $(VENV)/bin/ruff format . && $(VENV)/bin/ruff check --fix .

# The suite runs in TEST_WORKERS processes (pytest-xdist) of one thread each: most of its time is single-threaded
# (graph tracing, export, process start-up), and two threads per process oversubscribe a 2-core machine.
TEST_WORKERS ?= 2
PYTEST := OMP_NUM_THREADS=1 $(PY) -m pytest -n $(TEST_WORKERS)

test: lint ## lint, then run the whole test suite but the real-browser tests (what CI runs first)
	cd $(ROOT) && $(PYTEST) -m "not browser"

test-fast: $(STAMP) ## run the tests not marked slow
	cd $(ROOT) && $(PYTEST) -m "not slow and not browser"

test-browser: $(STAMP) ## the app in a real browser (needs Debian's chromium: apt-get install chromium; CI runs it)
	cd $(ROOT) && $(PY) -m pytest -m browser

DOCS_STAMP := $(VENV)/.docs-stamp
$(DOCS_STAMP): $(STAMP)
	$(PY) -m pip install -e '$(ROOT)[docs]'
	touch $@

docs: $(DOCS_STAMP) ## build the documentation site into site/ (--strict: broken links and references fail; CI runs it)
	cd $(ROOT) && NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

docs-serve: $(DOCS_STAMP) ## serve the documentation site on http://127.0.0.1:8000, rebuilt on every change
	cd $(ROOT) && NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs serve

demo: $(STAMP) ## main job on the embedded synthetic dataset: synth -> test untrained -> train -> test -> baseline -> report (CPU; DEMO_ARGS=... for options)
	$(CLI) demo $(DEMO_ARGS)

app: $(STAMP) ## the cut-out web page on http://127.0.0.1:7860 (CKPT=... ; default: the demo's trained checkpoint)
	$(CLI) app $(if $(CKPT),--ckpt $(CKPT))

train: $(STAMP) ## train the DIS5K recipe of lightning_config.yaml (CONFIG=... to change; TRAIN_ARGS=... for options)
	$(CLI) fit -c $(CONFIG) $(TRAIN_ARGS)

benchmark: $(STAMP) ## accuracy tables on every dataset under DATA_ROOT (CKPT=... required for real numbers)
	$(CLI) benchmark accuracy $(if $(CKPT),--ckpt $(CKPT)) --data-root $(DATA_ROOT)

clean: ## remove the environment and run outputs (never data/ or checkpoints/)
	rm -rf $(VENV) runs lightning_logs .pytest_cache src/*.egg-info site
