# Two commands for a new user:  `make lab` (the notebooks on the embedded simulator) and `make test`.
# `make lab`/`make demo` install the package with its notebooks extra only; `make test`, `make lint` and
# `make bench` add the test tools.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
CKSUM  := $(shell cat pyproject.toml | cksum | cut -d' ' -f1)
NOTEBOOKS_STAMP := $(VENV)/.installed-notebooks-$(CKSUM)
STAMP  := $(VENV)/.installed-test-$(CKSUM)
# Bandwidth's v2 SDK has the v1 SDK's module name, so it lives in a directory of its own (see the
# `sdk-v2` extra in pyproject.toml); tests/test_sdk_v2.py puts it on a subprocess's path.
SDK_V2 := build/sdk-v2
SDK_V2_STAMP := $(SDK_V2)/.installed-$(CKSUM)

.PHONY: lab test test-quick demo lint docs bench bench-full clean

$(VENV)/bin/python:
	@$(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --quiet --upgrade pip

# The first install takes a minute or two: pip says what it fetches as it goes, not a silent wait.
$(NOTEBOOKS_STAMP): pyproject.toml | $(VENV)/bin/python
	@echo "Installing catapult_nb with its notebooks extra into $(VENV) (a minute or two the first time)…"
	@$(BIN)/python -m pip install --progress-bar on -e '.[notebooks]'
	@rm -f $(VENV)/.installed-notebooks-*
	@touch $@

$(STAMP): pyproject.toml | $(VENV)/bin/python
	@echo "Installing catapult_nb with its test tools into $(VENV) (a few minutes the first time)…"
	@$(BIN)/python -m pip install --progress-bar on -e '.[test]'
	@rm -f $(VENV)/.installed-*
	@touch $(NOTEBOOKS_STAMP) $@

$(SDK_V2_STAMP): pyproject.toml | $(VENV)/bin/python
	@rm -rf $(SDK_V2)
	@spec=$$(sed -n 's/^sdk-v2 = \["\(.*\)"\]$$/\1/p' pyproject.toml); \
		test -n "$$spec" || { echo "pyproject.toml has no sdk-v2 extra"; exit 1; }; \
		$(BIN)/python -m pip install --quiet --quiet --target $(SDK_V2) "$$spec"
	@touch $@

# Notebooks are saved without their outputs (a content hook), and what they write goes to the ignored
# notebooks/output/: running them leaves the checkout clean.
lab: $(NOTEBOOKS_STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks \
		--ContentsManager.pre_save_hook=catapult_nb.notebook_hooks.strip_outputs \
		$(if $(filter 0,$(shell id -u)),--allow-root,)

# The browser tests drive Debian's Chromium (never a downloaded browser build).
CHROMIUM := /usr/bin/chromium

$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "The browser tests need Debian's chromium: run 'sudo apt-get install chromium'"; exit 1; \
	fi

# `make test` is the whole suite, the slowest tests listed at the end; `make test-quick` leaves out the
# tests marked slow (notebooks, browsers, hostile-HTTP storms): the unit and real-socket tests, no browser
# needed, in four pytest-xdist workers (they mostly wait on timers and sockets, so four share two cores). Both install the v2 SDK the v2 judge runs (build/sdk-v2).
test: $(STAMP) $(SDK_V2_STAMP) $(CHROMIUM)
	$(BIN)/python -m pytest -p no:cacheprovider --durations=25

test-quick: $(STAMP) $(SDK_V2_STAMP)
	$(BIN)/python -m pytest -p no:cacheprovider -m "not slow" -n 4 --durations=10

demo: $(NOTEBOOKS_STAMP)
	@$(BIN)/catapult-nb demo

lint: $(STAMP)
	$(BIN)/ruff check catapult_nb tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

# The documentation site (Sphinx, MyST Markdown, autodoc, the notebooks as stored) in build/docs; a
# warning, a dangling cross-reference included, fails the build.
docs: $(STAMP)
	$(BIN)/python -m sphinx -W --keep-going -n -E -q -b html docs build/docs
	@echo "The documentation site: build/docs/index.html"

# `make bench` runs every figure-producing script in benchmarks/, the heavy ones with `--quick` (smaller
# sizes; see each script's --help), printing each one's wall time; `make bench-full` runs them all at
# their full sizes, as the README's figures were measured. A failing script does not stop the others;
# the target fails at the end, naming it.
BENCH_QUICK := bench_campaign_engine.py bench_dataframe.py bench_fit.py bench_fit_coverage.py bench_import.py \
	bench_parquet.py
bench: $(STAMP)
	@start=$$(date +%s); failed=; for script in benchmarks/bench_*.py; do \
		name=$$(basename $$script); flags=; \
		case " $(if $(FULL),,$(BENCH_QUICK)) " in *" $$name "*) flags=--quick;; esac; \
		echo "== $$name $$flags"; began=$$(date +%s); \
		$(BIN)/python $$script $$flags || failed="$$failed $$name"; \
		echo "== $$name: $$(( $$(date +%s) - began )) s"; \
	done; echo "== make bench: $$(( $$(date +%s) - start )) s in all"; \
	if [ -n "$$failed" ]; then echo "== failed:$$failed"; exit 1; fi

bench-full: $(STAMP)
	@$(MAKE) --no-print-directory bench FULL=1

clean:
	rm -rf $(VENV) build .pytest_cache
