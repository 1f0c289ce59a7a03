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

# Until the edge runtime lands: the bundled float and int8 models on the bundled sample
# faces (35 FER-2013 PublicTest faces), and the int8 model's Edge TPU compatibility.
demo: $(STAMP)
	$(BIN)/edgeemo evaluate --model models/fer_cnn.keras --data samples/faces --out demo-out/float
	$(BIN)/edgeemo evaluate --model models/fer_cnn_int8.tflite --data samples/faces --out demo-out/int8
	$(BIN)/edgeemo edgetpu-check models/fer_cnn_int8.tflite
	@echo "reports and confusion matrices: demo-out/float, demo-out/int8"

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf demo-out .pytest_cache
