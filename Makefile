# The two commands a newcomer needs: `make demo` and `make test`. Each sets everything up on a
# fresh machine (virtualenv, the project and its tools, headless Chromium for the report's
# browser test) and then runs. Other targets are conveniences for developers.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint typecheck unit bench chromium lab-programs clean help

help:
	@echo "make demo   set up, then run the main job (harness demo: plan, calibrate, measure, report)"
	@echo "make test   set up, then run every check: ruff, mypy, pytest"
	@echo "make bench  run the benchmarks (slow; figures go to docs/benchmarks.md by hand)"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ needed, found " + sys.version' 
	$(PYTHON) -m venv $(VENV)

# Reinstall whenever pyproject.toml changes. uv installs the same packages as pip in a third of
# the time (16 s against 46 s here, the same versions); pip does it where uv cannot be had.
# --compile-bytecode as pip does: where PYTHONDONTWRITEBYTECODE is set, a package installed
# without its bytecode is compiled again by every process that imports it (a fresh-clone
# `make test` without it: 11.7 minutes, pytest 690 s, against 521 s).
$(STAMP): pyproject.toml | $(BIN)/python
	@$(BIN)/python -m pip install --quiet uv && \
	  $(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python --editable '.[dev]' || { \
	  echo "uv unavailable: installing with pip"; \
	  $(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel && \
	  $(BIN)/python -m pip install --quiet --editable '.[dev]'; }
	@touch $(STAMP)

# Debian's Chromium renders the HTML report in the browser test. Installed only when missing
# and only where we may (root, apt-get present); elsewhere the browser test says what to do.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the report's browser test"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "warning: could not install chromium"; \
	  else echo "note: chromium is not installed; the browser test will say so"; fi; }

# HAProxy, PgBouncer and the cache's own redis-server for the lab (docs/lab.md), and iproute2's
# `ip` for the swarm across network namespaces (docs/distributed.md): Debian's packages,
# installed only when missing and only where we may (root, apt-get present); elsewhere the tests
# say what to do. Most live in /usr/sbin or /sbin, which a user's PATH may not list. Each entry
# is program:package.
LAB_PROGRAMS := haproxy:haproxy pgbouncer:pgbouncer redis-server:redis-server ip:iproute2
lab-programs:
	@missing=""; for entry in $(LAB_PROGRAMS); do \
	  program=$${entry%%:*}; package=$${entry##*:}; \
	  PATH="$$PATH:/usr/sbin:/sbin" command -v $$program >/dev/null 2>&1 || missing="$$missing $$package"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing$$missing for the lab"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
	      || echo "warning: could not install$$missing"; \
	  else echo "note:$$missing not installed; the lab's tests will say so (apt-get install$$missing)"; fi; \
	fi

demo: $(STAMP) lab-programs
	$(BIN)/harness demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# Three pytest-xdist workers on the two cores (the suite's tests wait on load stages more than
# they compute: with two workers it kept 1.2 cores busy): the tests marked slow (real service,
# real Locust) run one after another on one of them; the slow tests that judge no latency run
# one after another on a second; the in-process tests fill the rest (tests/conftest.py).
# compileall first: where PYTHONDONTWRITEBYTECODE is set, every service, Locust and harness
# process a test starts would otherwise compile our modules again (0.1 to 0.6 s each); the
# bytecode goes to __pycache__/, which git ignores.
unit: $(STAMP) chromium lab-programs
	$(BIN)/python -m compileall -q harness journeys models reports target_app
	$(BIN)/pytest -m "not benchmark" -n 3 --dist loadgroup --durations=20

test: lint typecheck unit

# The pytest benchmarks (tests marked `benchmark`), then every benchmarks/bench_*.py. Pytest's
# exit 5 means it collected no benchmark test, which is no failure. Nothing that fails stops
# the rest: the target fails at the end and names every part that failed.
bench: $(STAMP)
	@failed=""; \
	$(BIN)/pytest -m benchmark -p no:randomly -q; status=$$?; \
	if [ $$status -ne 0 ] && [ $$status -ne 5 ]; then failed=" pytest -m benchmark (exit $$status);"; fi; \
	for script in benchmarks/bench_*.py; do \
	  echo "== $$script"; $(BIN)/python $$script || failed="$$failed $$script"; \
	done; \
	if [ -n "$$failed" ]; then echo "make bench: failed:$$failed"; exit 1; fi

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
