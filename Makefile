# The two commands of the README: `make lab` and `make test`. Both create the local venv first.
PY ?= python3
VENV := .venv
BIN := $(abspath $(VENV))/bin
STAMP := $(VENV)/.installed-stamp
LAB_EXTRAS := $(VENV)/share/jupyter/labextensions/nbkit-rise-widgets/static/remoteEntry.js
WEB_ASSETS := web/node_modules/.package-lock.json
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

.PHONY: install lab lab-instructor test test-unit test-notebooks test-exercises lint release bench bench-smoke clean \
	slides site

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[lab,grading,hub,site,test,dev,torch]'
	touch $(STAMP)

# What live slides need besides jupyterlab-rise (web/install-lab-extras says what and why).
$(LAB_EXTRAS): $(STAMP) web/install-lab-extras web/rise-widgets/package.json \
		web/rise-widgets/static/remoteEntry.js web/lab/overrides.json
	web/install-lab-extras $(abspath $(VENV))

install: $(STAMP) $(LAB_EXTRAS)

# reveal.js, MathJax, require.js and jQuery for the static slides and the website, as pinned
# in web/package-lock.json (npm registry; nothing is fetched when the pages are viewed).
$(WEB_ASSETS): web/package.json web/package-lock.json
	npm ci --prefix web --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

# Static exports from the committed notebooks (never executed): reveal.js slides per lecture,
# and the course website (lectures, lecture index, student exercises, slides). Both work offline.
slides: $(STAMP) $(WEB_ASSETS)
	$(BIN)/python -m web.build slides build/slides

site: $(STAMP) $(WEB_ASSETS)
	$(BIN)/python -m web.build site build/site

# JupyterLab refuses to run as root (e.g. in a container) unless told it may.
LAB_ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--ServerApp.allow_root=True,)
# `make lab` is the students' Lab: the lecture index rendered (Markdown opens as a preview,
# web/lab/overrides.json), no news pop-up, and none of nbgrader's instructor UI
# (web/lab/student: formgrader, "Create Assignment", course and assignment lists, its menu).
# `make lab-instructor` is the same Lab with nbgrader's whole UI.
LAB_CMD = env -u MPLBACKEND $(BIN)/jupyter lab --notebook-dir=. $(LAB_ROOT_FLAG)
lab: $(STAMP) $(LAB_EXTRAS)
	JUPYTER_CONFIG_PATH=$(abspath web/lab/student) $(LAB_CMD) lectures/README.md

lab-instructor: $(STAMP) $(LAB_EXTRAS)
	$(LAB_CMD) README.md

# The suite runs $(JOBS) pytest workers on as many cores: one BLAS thread each avoids
# oversubscription (which makes NumPy training up to 20x slower). Benchmarks use all threads.
test test-unit test-notebooks test-exercises: export OPENBLAS_NUM_THREADS := 1
test test-unit test-notebooks test-exercises: export OMP_NUM_THREADS := 1
test test-unit test-notebooks test-exercises: export MKL_NUM_THREADS := 1

test: $(STAMP) lint test-unit test-notebooks test-exercises

lint: $(STAMP)
	$(BIN)/ruff check .
	bash -n .ci/run

test-unit: $(STAMP) $(LAB_EXTRAS) $(WEB_ASSETS)
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
	$(BIN)/python -m benchmarks.widget_speed

bench-smoke: $(STAMP)
	$(BIN)/python -m benchmarks.train_speed --smoke

clean:
	rm -rf $(VENV) .pytest_cache build web/node_modules
