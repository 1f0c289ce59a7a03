# `make demo` and `make test` work on a fresh clone: both bootstrap .venv from nothing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.edgeemo-installed

.PHONY: demo test lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[train,edge,dev]'
	touch $(STAMP)

# Until the edge runtime lands: evaluate the bundled model on the bundled sample faces.
demo: $(STAMP)
	$(BIN)/edgeemo evaluate --model models/fer_cnn.keras --data samples/faces --out demo-out
	@echo "confusion matrix: demo-out/confusion_matrix.png"

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf demo-out .pytest_cache
