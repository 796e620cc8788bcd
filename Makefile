# The two commands of the README: `make lab` and `make test`. Both create the local venv first.
PY ?= python3
VENV := .venv
BIN := $(abspath $(VENV))/bin
STAMP := $(VENV)/.installed-stamp
# Point the data loaders at a local copy of the datasets when one sits beside the checkout;
# otherwise nbkit downloads (and verifies) them into the user cache on first use.
NBKIT_DATA ?= $(if $(wildcard ../shared/data/mnist),$(abspath ../shared/data),)
ifneq ($(NBKIT_DATA),)
# absolute, since notebook kernels run in other folders (lectures/, solutions/<a>/)
override NBKIT_DATA := $(abspath $(NBKIT_DATA))
export NBKIT_DATA
endif
export PATH := $(BIN):$(PATH)
export MPLBACKEND := Agg
JOBS ?= 2

.PHONY: install lab test test-unit test-notebooks test-exercises lint release bench bench-smoke clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[lab,grading,test,dev]'
	touch $(STAMP)

install: $(STAMP)

# JupyterLab refuses to run as root (e.g. in a container) unless told it may.
LAB_ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--ServerApp.allow_root=True,)
lab: $(STAMP)
	env -u MPLBACKEND $(BIN)/jupyter lab --notebook-dir=. $(LAB_ROOT_FLAG) README.md

# The suite runs $(JOBS) pytest workers on as many cores: one BLAS thread each avoids
# oversubscription (which makes NumPy training up to 20x slower). Benchmarks use all threads.
test test-unit test-notebooks test-exercises: export OPENBLAS_NUM_THREADS := 1
test test-unit test-notebooks test-exercises: export OMP_NUM_THREADS := 1
test test-unit test-notebooks test-exercises: export MKL_NUM_THREADS := 1

test: $(STAMP) lint test-unit test-notebooks test-exercises

lint: $(STAMP)
	$(BIN)/ruff check .

test-unit: $(STAMP)
	$(BIN)/pytest -n $(JOBS) --dist loadfile --timeout 600 tests

# Strict nbval: every text output of a lecture or solution must reproduce. Kernels use the
# inline plotting backend (MPLBACKEND unset), as in JupyterLab.
NOTEBOOK_DIRS := $(wildcard lectures solutions)
test-notebooks: $(STAMP)
ifneq ($(NOTEBOOK_DIRS),)
	env -u MPLBACKEND $(BIN)/pytest -n $(JOBS) --dist loadfile --timeout 600 --nbval $(NOTEBOOK_DIRS) \
		--nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider
endif

# Released exercises: cells tagged raises-exception must raise; outputs are not compared.
test-exercises: $(STAMP)
ifneq ($(wildcard exercises),)
	env -u MPLBACKEND $(BIN)/pytest -n $(JOBS) --dist loadfile --timeout 600 --nbval-lax exercises \
		-p no:cacheprovider
endif

release: $(STAMP)
	$(BIN)/nbkit release

bench: $(STAMP)
	$(BIN)/python -m benchmarks.train_speed
	$(BIN)/python -m benchmarks.update_rules

bench-smoke: $(STAMP)
	$(BIN)/python -m benchmarks.train_speed --smoke

clean:
	rm -rf $(VENV) .pytest_cache
