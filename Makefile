# make demo / make test bootstrap .venv from requirements.lock on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check --quiet
STAMP := $(VENV)/.installed
DEMO_OUT ?= datasets/output/demo

.PHONY: demo test bench clean-demo

$(STAMP): requirements.lock setup.cfg pyproject.toml .ci/system-deps
	@bash .ci/system-deps
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -r requirements.lock
	$(PIP) install --no-deps --no-build-isolation -e .
	@touch $@

demo: $(STAMP)
	$(VENV)/bin/spare3d render datasets/samples --out $(DEMO_OUT) --format png,svg --workers 2
	@echo "drawings: $(DEMO_OUT)/<model>/<view>.png and .svg (views f r t 1-8)"
	$(VENV)/bin/spare3d generate i2p --csg 20 --primitives 8 --seed 0 --out $(DEMO_OUT)-i2p --workers 2
	$(VENV)/bin/spare3d verify $(DEMO_OUT)-i2p
	@echo "I2P questions in the SPARE3D layout: $(DEMO_OUT)-i2p/{train,val,test}, card: $(DEMO_OUT)-i2p/dataset.json"

test: $(STAMP)
	$(PY) -m pytest -q tests

bench: $(STAMP)
	$(PY) benchmarks/render.py

clean-demo:
	rm -rf $(DEMO_OUT) $(DEMO_OUT)-i2p
