# The kit's commands. `make tour` and `make test` set up .venv/ on first use, with the exact versions of
# constraints.txt (torch 2.13.0 among them).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CONSTRAINTS := constraints.txt

# Where PyPI's torch wheel is the CUDA build (Linux: ~0.5 GB plus the nvidia-* libraries), take the CPU build from
# PyTorch's CPU index instead (~0.2 GB). macOS and Windows wheels on PyPI are CPU builds already: no index needed.
# CUDA users: make venv TORCH_INDEX=https://download.pytorch.org/whl/cu128 (the index for their CUDA version).
HOST_OS ?= $(shell uname -s)
ifeq ($(HOST_OS),Linux)
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
endif
PIP_INSTALL = $(PY) -m pip install --quiet -c $(CONSTRAINTS)

# Keep every cache inside the repo, so runs leave nothing in $HOME and never reach the network.
CACHE := $(CURDIR)/build/cache
export MPLCONFIGDIR := $(CACHE)/matplotlib
export IPYTHONDIR := $(CACHE)/ipython
export JUPYTER_CONFIG_DIR := $(CACHE)/jupyter/config
export JUPYTER_DATA_DIR := $(CACHE)/jupyter/data
export JUPYTER_RUNTIME_DIR := $(CACHE)/jupyter/runtime
export TORCHINDUCTOR_CACHE_DIR := $(CACHE)/inductor
export HF_HOME := $(CACHE)/huggingface
export HF_DATASETS_OFFLINE := 1
export HF_HUB_OFFLINE := 1
export PYTHONDONTWRITEBYTECODE := 1
export GLM_KIT_FAST ?= 1

.PHONY: tour test bench lab sync venv constraints clean student instructor site reference int4-scale
ifeq ($(FULL),1)
GLM_KIT_FAST := 0
endif

venv: $(STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) --upgrade pip
	$(PIP_INSTALL) $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) -e ".[dev]"
	touch $(STAMP)

constraints: $(STAMP)  ## pin the versions of .venv (where the tests pass) into constraints.txt
	$(PY) .ci/constraints.py

tour: $(STAMP)  ## execute the numbered notebooks in order into build/, print what each reproduced
	$(PY) notebooks/runner.py --out build/notebooks

test: $(STAMP)  ## the whole suite, notebooks included
	$(PY) -m pytest -q

SEEDS ?= 2
reference: $(STAMP)  ## retrain the reference models of data/reference/ from their recipe (seeds 0..SEEDS-1; not part of test)
	$(PY) -m glm_mini.reference --seeds $(SEEDS)

int4-scale: $(STAMP)  ## retrain the INT4-scale family of data/reference/int4-scale/ (3 sizes x SEEDS seeds; not part of test)
	$(PY) -m scale_up.quantization.size_family --seeds $(SEEDS)

bench: $(STAMP)  ## speed/memory ratios against same-process baselines
	$(PY) -m pytest -q -s -o python_files='bench_*.py' tests/benchmarks

lab: $(STAMP)  ## JupyterLab at the repository root (docs/ and the packages browsable), opening the tour
	$(VENV)/bin/jupyter lab --ServerApp.root_dir="$(CURDIR)" notebooks/00_tour.ipynb

sync: $(STAMP)  ## regenerate each .ipynb from its py:percent source (outputs stay empty)
	$(VENV)/bin/jupytext --set-kernel python3 --update --to ipynb notebooks/[0-9][0-9]_*.py

student: $(STAMP)  ## the student edition (exercises as stubs, predictions folded), executed, into build/student/
	$(PY) notebooks/runner.py --edition student --out build/student

instructor: $(STAMP)  ## the instructor edition (solutions kept), executed, into build/instructor/
	$(PY) notebooks/runner.py --edition instructor --out build/instructor

site: $(STAMP)  ## both editions, executed, as one offline static site (a switch between them), into build/site/
	$(PY) notebooks/build_site.py --check
	$(PY) notebooks/runner.py --edition student --out build/student
	$(PY) notebooks/runner.py --edition instructor --out build/instructor
	$(PY) notebooks/build_site.py --student build/student --instructor build/instructor --out build/site

clean:
	rm -rf build .pytest_cache
