# Two entry points work on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
DEMO   ?= demo_out

.PHONY: venv install demo test test-all bench clean

$(VENV)/.installed: setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip wheel setuptools
	$(PY) -m pip install -q -e ".[all]"
	touch $@

install: $(VENV)/.installed

demo: install
	$(PY) -m demo --output $(DEMO)

test: install
	$(PY) -m pytest -q -m "not slow"

test-all: install
	$(PY) -m pytest -q

bench: install
	$(PY) -m benchmarks.run_all

clean:
	rm -rf $(DEMO) .pytest_cache
