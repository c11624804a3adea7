# The README's first two commands: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
MMZOO := $(VENV)/bin/mmzoo
STAMP := $(VENV)/.mmzoo-installed
SHARED_NAMES ?= ../shared/data/names.txt

.PHONY: install demo test test-fast check lint typecheck format bench zoo plugins-installed engines

$(PY):
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# torch comes from constraints.txt's pin (a CPU build on disk here), never a CUDA download.
$(STAMP): pyproject.toml constraints.txt | $(PY)
	$(PIP) install -q -c constraints.txt -e '.[train,dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(MMZOO) train mlp-bn
	$(MMZOO) sample mlp-bn -n 20
	$(MMZOO) export mlp-bn
	$(MMZOO) sample exported/mlp-bn.onnx -n 20

# pytest's exit code 5 ("no tests collected") counts as a failure: there must be tests.
# The mmzoo-lstm plugin is installed like any third-party plugin, and its own tests
# run too (pyproject's testpaths). tests/plugin_pkgs/mmzoo-testnets holds the
# networks the export tests need (conv nets, a non-causal one), installed the same way.
PYTEST_RUN = rc=$$?; if [ $$rc -eq 5 ]; then echo "make test: no tests collected" >&2; exit 1; fi; exit $$rc

plugins-installed: install
	$(PIP) install -q -c constraints.txt --no-deps -e ./plugins/mmzoo-lstm
	$(PIP) install -q -c constraints.txt --no-deps -e ./tests/plugin_pkgs/mmzoo-testnets

# Two pytest workers (pytest-xdist): most tests wait on subprocesses, so two cores
# halve the wall time; every test runs in its own tmp_path, so they do not collide.
test: plugins-installed
	$(PY) -m pytest -n 2; $(PYTEST_RUN)

# For development: everything but the tests marked slow (under 2 minutes on 2 cores).
test-fast: plugins-installed
	$(PY) -m pytest -n 2 -m "not slow"; $(PYTEST_RUN)

# What CI runs before the tests: lint, format and types, all on a clean tree.
check: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

lint: install
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff format . && $(VENV)/bin/ruff check --fix .

bench: install
	$(PY) bench/sampling.py
	$(PY) bench/train_speed.py $(wildcard $(SHARED_NAMES))
	$(PY) bench/threads.py $(if $(wildcard $(SHARED_NAMES)),$(SHARED_NAMES),names)
	$(PY) bench/startup.py
	$(PY) bench/kernel_floor.py $(wildcard $(SHARED_NAMES))

# The pretrained zoo: every built-in model, default recipe, fixed seed, built-in names corpus.
zoo: install
	$(PY) scripts/make_zoo.py

# Every pretrained generator file under onnxruntime's CPU provider, onnxruntime's OpenVINO
# EP, the OpenVINO runtime (f32) and the ONNX reference evaluator, batch 1 and 1000: a table
# of identical/different tokens (docs/generate.md). In its own venv: onnxruntime-openvino
# replaces the onnxruntime wheel, so it never goes into .venv. Pinned to the versions tested.
OV_VENV ?= .venv-openvino
$(OV_VENV)/bin/python:
	python3 -m venv $(OV_VENV)
	$(OV_VENV)/bin/pip install -q numpy onnx==1.23.2 onnxruntime-openvino==1.24.1 openvino==2026.4.1

engines: $(OV_VENV)/bin/python
	OMP_NUM_THREADS=1 $(OV_VENV)/bin/python scripts/engines.py
