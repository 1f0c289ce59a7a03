# `make demo` and `make test` work on a fresh clone: both bootstrap .venv from nothing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.edgeemo-installed

.PHONY: demo hub-demo test test-all lint typecheck clean system-deps wheel pi-check

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[train,edge,hub,sim,dev]'
	touch $(STAMP)

# A fleet of three stores in three time zones from simulated footage (scripts/demo_fleet.py): each
# store's camera simulated with the sample faces, run through `edgeemo run`, imported into
# demo-out/hub.db; one store's device report; then how to open the dashboard.
demo: $(STAMP)
	rm -rf demo-out
	$(BIN)/python scripts/demo_fleet.py --out demo-out

# The fleet dashboard on `make demo`'s hub database (SQLite, no broker): log in as demo / demo-password
# at http://127.0.0.1:8080.
hub-demo: $(STAMP)
	test -f demo-out/hub.db || $(MAKE) demo
	$(BIN)/edgeemo hub serve --db demo-out/hub.db

system-deps:
	./scripts/install-system-deps.sh

# The wheel deploy/ pushes to devices (with the models and calibration set inside).
wheel: $(STAMP)
	rm -rf dist && $(BIN)/python -m pip wheel --no-deps -q -w dist .
	@ls dist/*.whl

# The fast suite: everything but the tests marked slow (training, conversion, minute-long outages).
test: $(STAMP) system-deps
	$(BIN)/python -m pytest -q -m "not slow and not requires_camera and not requires_edgetpu"

# Everything (what CI runs, then pi-check).
test-all: $(STAMP) system-deps
	$(BIN)/python -m pytest -q

# edgeemo on emulated arm64 Debian 12 (64-bit Raspberry Pi OS's base): install from aarch64 wheels
# with numpy held at the system's, the edge test subset, run/report/model on the sample clip, and
# the int8 model's predictions under arm64 LiteRT against this machine's. Needs root (CI is root).
pi-check: $(STAMP)
	PYTHON=$(abspath $(BIN)/python) ./scripts/pi-check.sh

lint: $(STAMP)
	$(BIN)/ruff check .

# mypy on the package as users import it (scripts/typecheck.py: train/ is edgeemo.train, ...), settings in pyproject.toml.
typecheck: $(STAMP)
	$(BIN)/python scripts/typecheck.py

clean:
	rm -rf demo-out dist .pytest_cache
