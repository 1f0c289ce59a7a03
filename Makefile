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

# The edge runtime on the bundled sample clip with the bundled int8 model, then the report.
# The clip holds one shopper, so the report runs with k=1 (the default k=5 suppresses
# buckets with fewer than five visits).
demo: $(STAMP)
	rm -rf demo-out && mkdir -p demo-out
	$(BIN)/edgeemo run --source samples/clip.mp4 --db demo-out/edgeemo.db
	$(BIN)/edgeemo report --db demo-out/edgeemo.db --out demo-out/report --min-visits 1 --bucket hour
	$(BIN)/edgeemo bench --source samples/clip.mp4 --repeat 1
	@echo "charts: demo-out/report/satisfaction.png and demo-out/report/emotion_mix.png (CSV and JSON beside them)"

# The fleet dashboard on `make demo`'s database, with nothing else installed: SQLite, no broker.
# Log in as demo / demo-password at http://127.0.0.1:8080 (k=1: the clip holds three visits).
hub-demo: $(STAMP)
	test -f demo-out/edgeemo.db || $(MAKE) demo
	$(BIN)/edgeemo hub import demo-out/edgeemo.db --db demo-out/hub.db --store demo-store --device demo-pi
	echo demo-password | $(BIN)/edgeemo hub user add demo --role admin --db demo-out/hub.db
	$(BIN)/edgeemo hub serve --db demo-out/hub.db --min-visits 1

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
