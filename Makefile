# Two entry points work on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
DEMO   ?= demo_out

.PHONY: venv install demo test test-all fuzz bench clean

$(VENV)/.installed: setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip wheel setuptools
	$(PY) -m pip install -q -e ".[all]"
	touch $@

install: $(VENV)/.installed

# The whole flow on the embedded sample corpus: curate -> tokenizer -> tokenize -> mix -> train.
demo: install
	$(PY) -m pipelines.curate --input data/sample --output $(DEMO)/curated
	$(PY) -m pipelines.train_tokenizer --input $(DEMO)/curated --vocab-size 4096 --output $(DEMO)/tokenizer
	$(PY) -m pipelines.tokenize --input $(DEMO)/curated --tokenizer $(DEMO)/tokenizer/tokenizer.model --output $(DEMO)/tokens
	$(PY) -m mixer build --code 25 --synth 10 --data $(DEMO)/tokens --tokens 2M --seq-len 128 --output $(DEMO)/mix
	$(PY) -m trainer train --mixture $(DEMO)/mix/mixture.json --config tiny --workdir $(DEMO)/run --steps 300

# CI profile: every Hypothesis test replays the same examples (derived from its name), no database.
test: install
	$(PY) -m pytest -q -m "not slow" --hypothesis-profile=ci

test-all: install
	$(PY) -m pytest -q --hypothesis-profile=ci

# Property tests only, fresh random inputs each run, FUZZ_FACTOR x each test's examples (default 10);
# failures are kept in .hypothesis/ and replayed first next time.
fuzz: install
	$(PY) -m pytest -q -m "hypothesis and not slow" --hypothesis-profile=fuzz

bench: install
	$(PY) -m benchmarks.run_all

clean:
	rm -rf $(DEMO) .pytest_cache
