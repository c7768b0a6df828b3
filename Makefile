# Every target creates the virtualenv when it is missing or older than the requirements.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
REQS := requirements.txt requirements-dev.txt policies/requirements.txt

.PHONY: test lint bench dev

$(BIN)/.installed: $(REQS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

test: $(BIN)/.installed
	$(BIN)/python -m pytest

lint: $(BIN)/.installed
	$(BIN)/ruff check .

bench: $(BIN)/.installed
	$(BIN)/python -m bench.handlers

# The local stack in the foreground (Ctrl-C stops it); endpoints and a dev token land in .devstack/endpoints.json.
dev: $(BIN)/.installed
	$(BIN)/python -m devstack serve
