# The README's two commands: `make repro` and `make test`. Both build .venv from the lock.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export PATH := $(CURDIR)/$(BIN):$(PATH)
export MPLBACKEND := Agg

.PHONY: repro test test-fast venv lint lock bench-generate bench-features bench-scorer bench-pipeline bench-service clean example-german example-lender example-taiwan

venv: $(STAMP)

# requirements.lock is the source of truth for every version. uv installs it (in parallel,
# several times faster than pip); INSTALLER=pip installs the same lock with pip alone.
INSTALLER ?= uv
UV_VERSION := 0.13.9
ifeq ($(INSTALLER),uv)
# uv does not compile bytecode by default; pip does. Without it, every stage of the first
# run would compile the libraries it imports.
INSTALL = $(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python
else
INSTALL = $(BIN)/python -m pip install --quiet --disable-pip-version-check
endif

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	if [ "$(INSTALLER)" = uv ]; then \
	  $(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION); fi
	$(INSTALL) -r requirements.lock
	$(INSTALL) --no-deps --no-build-isolation -e .
	touch $(STAMP)

repro: $(STAMP)
	$(BIN)/dvc repro

# The pipeline on real public data (German credit), in build/german-credit/.
example-german: $(STAMP)
	$(BIN)/creditrisk run --project build/german-credit --overrides examples/german_credit/params.yaml

# The Taiwan credit-card statements (real data, shipped in examples/taiwan_credit_card/):
# the wide monthly columns converted to the raw contract, the whole pipeline on them in
# build/taiwan-credit-card/, then the raw-column LightGBM on the same split beside it.
example-taiwan: $(STAMP)
	$(BIN)/python examples/taiwan_credit_card/convert.py --out build/taiwan-credit-card/export
	$(BIN)/creditrisk run --project build/taiwan-credit-card --overrides examples/taiwan_credit_card/params.yaml
	$(BIN)/python examples/taiwan_credit_card/baseline.py --project build/taiwan-credit-card

# A lender-shaped export (CSV, the lender's own names, dates in 2005) made from the
# synthetic generator, then the whole pipeline on it in build/lender-export/.
example-lender: $(STAMP)
	$(BIN)/python examples/lender_export/make_export.py --out build/lender-export/export
	$(BIN)/creditrisk run --project build/lender-export --overrides examples/lender_export/params.yaml

# The README's test command (and CI's): lint and the type check first, then every test.
test: lint
	$(BIN)/python -m pytest -n 2 --dist loadfile --durations=15

# The edit-run loop: no whole-pipeline, Spark, HTTP-serving or notebook tests.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile -m "not slow"

# ruff (lint and format) on all Python; mypy on the package (strict) and the stages
# (pyproject.toml's mypy_path resolves creditrisk to src/ through .typecheck/creditrisk).
lint: $(STAMP)
	$(BIN)/ruff check src pipelines tests benchmarks examples
	$(BIN)/ruff format --check src pipelines tests benchmarks examples
	$(BIN)/mypy -p creditrisk -p pipelines

# Re-resolve the pins (needs the package registry); commit the result.
lock:
	rm -rf /tmp/creditrisk-lock && $(PYTHON) -m venv /tmp/creditrisk-lock
	/tmp/creditrisk-lock/bin/pip install --quiet --upgrade pip setuptools wheel
	/tmp/creditrisk-lock/bin/pip install --quiet ".[dev]"
	/tmp/creditrisk-lock/bin/pip freeze --exclude creditrisk --all > requirements.lock

bench-generate: $(STAMP)
	$(BIN)/python benchmarks/generate.py

# Every stage of dvc.yaml at one or more sizes (history generated once per size, cached):
# e.g. make bench-pipeline CUSTOMERS="20000 60000" prints the scaling exponent too.
CUSTOMERS ?= 60000
bench-pipeline: $(STAMP)
	$(BIN)/python benchmarks/pipeline.py $(foreach n,$(CUSTOMERS),--customers $(n))

clean:
	rm -rf $(VENV)

# The featuretools baseline needs pandas < 3: it gets an environment of its own.
FT_VENV := .venv-bench-ft
$(FT_VENV)/.stamp: benchmarks/requirements-featuretools.txt
	test -x $(FT_VENV)/bin/python || $(PYTHON) -m venv $(FT_VENV)
	$(FT_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r benchmarks/requirements-featuretools.txt
	touch $@

BENCH_DATA ?= /tmp/creditrisk-bench
bench-scorer: $(STAMP)
	PYSPARK_PYTHON=$(abspath $(BIN))/python PATH=$(abspath $(BIN)):$$PATH $(BIN)/python benchmarks/scorer.py

# The decision service over HTTP (after make repro): sequential and 8 clients, beside
# MLflow's single-row floor; PURCHASES pads the history to show lookups do not grow with it.
PURCHASES ?= 10000000
bench-service: $(STAMP)
	$(BIN)/python benchmarks/service.py --purchases $(PURCHASES)

bench-features: $(STAMP) $(FT_VENV)/.stamp
	$(BIN)/python benchmarks/features.py --data $(BENCH_DATA) --featuretools-python $(FT_VENV)/bin/python
