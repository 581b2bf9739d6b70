# make demo / make test bootstrap .venv from requirements.lock on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check --quiet
STAMP := $(VENV)/.installed
DEMO_OUT ?= demo
# pytest-xdist workers for make test (tests/conftest.py gives each one compute thread)
TEST_WORKERS ?= 2

.PHONY: demo test bench docs clean-demo

$(STAMP): requirements.lock setup.cfg pyproject.toml .ci/system-deps
	@bash .ci/system-deps
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -r requirements.lock
	$(PIP) install --no-deps --no-build-isolation -e .
	@touch $@

demo: $(STAMP)
	$(VENV)/bin/spare3d render datasets/samples --out $(DEMO_OUT)/drawings --format png,svg --workers 2
	@echo "drawings: $(DEMO_OUT)/drawings/<model>/<view>.png and .svg (views f r t 1-8)"
	$(VENV)/bin/spare3d demo --out $(DEMO_OUT)
	@echo "report: $(DEMO_OUT)/report.md, figure: $(DEMO_OUT)/examples.png"

test: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_WORKERS) tests

bench: $(STAMP)
	$(PY) benchmarks/render.py

docs: $(STAMP)
	$(PY) -m mkdocs build --strict --site-dir site
	@echo "documentation: site/index.html"

clean-demo:
	rm -rf $(DEMO_OUT)
