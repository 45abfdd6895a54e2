# Two commands for a new user:  `make lab` (the notebooks on the embedded simulator) and `make test`.
# `make lab`/`make demo` install the package with its notebooks extra only; `make test`, `make lint` and
# `make bench` add the test tools.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
CKSUM  := $(shell cat pyproject.toml | cksum | cut -d' ' -f1)
NOTEBOOKS_STAMP := $(VENV)/.installed-notebooks-$(CKSUM)
STAMP  := $(VENV)/.installed-test-$(CKSUM)

.PHONY: lab test demo lint bench clean

$(VENV)/bin/python:
	@$(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --quiet --upgrade pip

$(NOTEBOOKS_STAMP): pyproject.toml | $(VENV)/bin/python
	@$(BIN)/python -m pip install --quiet --quiet -e '.[notebooks]'
	@rm -f $(VENV)/.installed-notebooks-*
	@touch $@

$(STAMP): pyproject.toml | $(VENV)/bin/python
	@$(BIN)/python -m pip install --quiet --quiet -e '.[test]'
	@rm -f $(VENV)/.installed-*
	@touch $(NOTEBOOKS_STAMP) $@

lab: $(NOTEBOOKS_STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root,)

# The browser tests drive Debian's Chromium (never a downloaded browser build).
CHROMIUM := /usr/bin/chromium

$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "The browser tests need Debian's chromium: run 'sudo apt-get install chromium'"; exit 1; \
	fi

test: $(STAMP) $(CHROMIUM)
	$(BIN)/python -m pytest -p no:cacheprovider

demo: $(NOTEBOOKS_STAMP)
	@$(BIN)/catapult-nb demo

lint: $(STAMP)
	$(BIN)/ruff check catapult_nb tests benchmarks
	$(BIN)/mypy

bench: $(STAMP)
	for script in benchmarks/bench_*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) build .pytest_cache
