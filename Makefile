# loalang: `make demo` runs the whole system, `make test` runs every test.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test test-fast bench-check coverage check lint typecheck install system-packages venv clean

install: system-packages venv

system-packages:
	@bash scripts/install-system-packages.sh

venv:
	@VENV=$(VENV) bash scripts/bootstrap-venv.sh

demo: install
	$(PY) -m loalang_stack.demo

check: lint typecheck

lint: venv
	$(VENV)/bin/ruff check .

typecheck: venv
	$(VENV)/bin/mypy

# The API tests run a second time against PostgreSQL (the first run uses the SQLite default), all but
# those whose subject is what agents play (marked `sounds`): their database work is the same as the rest.
# The library's and broadcasts' tests are left out of this pass: their rows (media, broadcasts,
# receipts) are written and read on PostgreSQL by the bulletin, report and airtime tests too, and
# their time goes to ffmpeg and to audio playing out, which the database does not change.
API_TESTS := tests/e2e/test_accounts.py tests/e2e/test_api_input.py tests/e2e/test_bulletins.py \
	tests/e2e/test_cap_alerts.py tests/e2e/test_reports.py tests/e2e/test_airtime_gate.py \
	tests/e2e/test_api_times.py tests/e2e/test_area_outlines.py

# Three workers on this project's two-core machines: most end-to-end time is spent waiting for audio to
# play out in real time (with two workers the cores were busy half the time), so a third stack side by
# side cuts the run by a fifth (15 to 12 minutes, docs/benchmarks.md). A fourth e2e worker took the whole
# run from about 15.5 to 13.5 minutes, but one of three runs failed the hearing check (a cut horn's
# cluster judged unheard, its microphone's match 0.38) under the load it adds: three stay until that is
# understood. A module's tests stay on one worker (--dist loadfile): they share its browser and its
# fixtures. End-to-end modules go longest first, in the order tests/conftest.py gives
# (LONGEST_FIRST; see tests/module_seconds.py): in pytest-xdist's own order (the most tests first) the
# four-minute over-the-air test, a module of one test, went last and ran alone at the end. The unit
# tier's short modules keep pytest-xdist's order.
PARALLEL := -n 3 --dist loadfile
LONGEST_FIRST := --no-loadscope-reorder

# Each test module declares one tier (tests/unit/test_tiers.py checks it), so the two tiers together run
# every test once. The fast tier (tests/unit, `-m unit`) starts no controller process: the first thing to
# run while working, and the first thing `make test` runs, so a broken unit fails in a minute, not fifteen.
PYTEST := $(PY) -m pytest -q -p no:cacheprovider $(PARALLEL)

test-fast: venv
	$(PYTEST) -m unit

test: install check
	$(PYTEST) -m unit
	$(PYTEST) $(LONGEST_FIRST) -m e2e --durations=25
	LOALANG_TEST_DATABASE=postgresql $(PYTEST) $(LONGEST_FIRST) -m "not sounds" $(API_TESTS)

# The documented speed and memory goals beside figures measured now (benchmarks/check.py): a few
# minutes on a quiet machine; the tests keep only bounds that catch hangs.
bench-check: venv
	$(PY) -m benchmarks.check

clean:
	rm -rf data/demo data/demo-nats .pytest_cache .mypy_cache .ruff_cache

# Line coverage of the controller, the agent and the protocol over the whole suite (the processes the
# tests start included); slower than `make test`, so not part of it. The figures are in
# docs/architecture.md's testing section.
coverage: venv
	rm -rf .coverage-data
	$(PY) -m pytest -q -p no:cacheprovider $(PARALLEL) --cov --cov-report=term-skip-covered
