# loalang: `make demo` runs the whole system, `make test` runs every test.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test check lint typecheck install system-packages venv clean

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

test: install check
	$(PY) -m pytest -q -p no:cacheprovider

clean:
	rm -rf data/demo .pytest_cache .mypy_cache .ruff_cache
