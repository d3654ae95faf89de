# The two commands: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Two installs from the hash-checked lock files: the server's alone for `make run`, everything
# (tests, fuzzing, benchmark) for the targets that need it. The full lock pins the server's packages to
# the same versions, so the second stamp implies the first.
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
PIP_INSTALL = $(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes
HOST ?= 127.0.0.1
PORT ?= 5000
export FLASK_APP := wsgi:app

.PHONY: install install-dev node lock redoc run admin-link test migrate spec fuzz clean

$(STAMP): requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -r requirements.lock
	touch $(STAMP)

$(DEV_STAMP): requirements.lock requirements-dev.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -r requirements-dev.lock
	touch $(STAMP) $(DEV_STAMP)

install: $(STAMP)

install-dev: $(DEV_STAMP)

# The node tools of the suite only (package-lock.json): @asyncapi/parser for tools/asyncapi_validate.mjs, and
# openapi-typescript, typescript and openapi-fetch, which tests/test_clients.py uses to generate a typed client
# from openapi/openapi.json, type-check a program against it and run it with node. `make run` does not need node.
NODE_STAMP := node_modules/.installed
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

node: $(NODE_STAMP)

# Re-resolves the lock files from requirements*.txt (keeping current pins that still fit; UPGRADE=1 moves
# every package to its newest allowed release). The locks are for the Python that runs this (README).
TOOLS := .venv-tools
PIP_COMPILE = $(TOOLS)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
	--no-emit-index-url --no-emit-find-links $(if $(UPGRADE),--upgrade)

$(TOOLS)/.installed: requirements-tools.txt
	test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-tools.txt
	touch $@

lock: $(TOOLS)/.installed
	$(PIP_COMPILE) --output-file requirements.lock requirements.txt
	$(PIP_COMPILE) --constraint requirements.lock --output-file requirements-dev.lock requirements.txt requirements-dev.txt

migrate: install
	$(BIN)/flask db upgrade

# Links in e-mails and the one printed below point at this server unless PUBLIC_URL says otherwise.
run: export PUBLIC_URL ?= http://$(HOST):$(PORT)
run: migrate
	@$(BIN)/flask workspace ensure-default
	@echo ""
	@$(BIN)/flask workspace ensure-demo
	@echo "API docs:  http://$(HOST):$(PORT)/api/docs  (ReDoc: http://$(HOST):$(PORT)/api/redoc)"
	@echo "Spec:      http://$(HOST):$(PORT)/api/openapi.json"
	@echo "Health:    http://$(HOST):$(PORT)/healthz  and  http://$(HOST):$(PORT)/readyz"
	@echo "Metrics:   http://$(HOST):$(PORT)/metrics"
	@echo "Log in:    open the set-password link above once, then log in to the console (admin@example.com and that password), or"
	@echo "           curl -X POST http://$(HOST):$(PORT)/api/auth/login -H 'Content-Type: application/json' \\"
	@echo "                -d '{\"email\": \"admin@example.com\", \"password\": \"<your password>\"}'"
	@echo "New link:  make admin-link [EMAIL=admin@example.com]"
	@echo ""
	$(BIN)/gunicorn -c gunicorn.conf.py --bind $(HOST):$(PORT) wsgi:app

# A fresh single-use set-password link for an admin (the first one unless EMAIL=...); older links stop working.
admin-link: export PUBLIC_URL ?= http://$(HOST):$(PORT)
admin-link: migrate
	@$(BIN)/flask workspace admin-link $(if $(EMAIL),--email "$(EMAIL)")

# The whole suite on the embedded default, then again on PostgreSQL (and
# Redis) when TEST_DATABASE_URL is set, as .ci/run does.
# The second pass skips the contract test's child run of the error-provoking files (tests/test_contract.py,
# two minutes on PostgreSQL): the first pass checked that every error they provoke is documented, and the database
# changes no route's documented errors. It also skips the tests marked same_on_every_database (tests/passes.py:
# the fuzzing runs on their own SQLite, the type checks of the generated clients and web apps), which ran in the first.
test: install-dev $(NODE_STAMP)
	env -u TEST_DATABASE_URL -u TEST_REDIS_URL $(BIN)/python -m pytest -q
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
		echo "== again on $${TEST_DATABASE_URL%%@*}@… with Redis $${TEST_REDIS_URL:-off}"; \
		CONTRACT_SKIP_CHILD_RUN=1 SAME_ON_EVERY_DATABASE_SKIP=1 $(BIN)/python -m pytest -q; \
	fi

spec: install
	$(BIN)/flask spec write

# ReDoc's standalone bundle for /api/redoc, from npm at the pinned version, checked against its hash.
redoc:
	tools/fetch_redoc.sh

# Every operation, as admin, agent, visitor and anonymous, fails on any 5xx (tools/fuzz.py).
# FUZZ_ARGS passes options: e.g. FUZZ_ARGS="--max-examples 100 --time-budget 600"; DATABASE_URL picks the database;
# FUZZ_ARGS="--all-checks" runs every schemathesis check on every response (tools/fuzz.py says what fails the run).
fuzz: install-dev
	$(BIN)/python -m tools.fuzz $(FUZZ_ARGS)

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache node_modules build/clients

# The side-by-side benchmark (bench/README.md): `make bench` for the design point,
# `make bench QUICK=1` for the run of under two minutes; BENCH_ARGS passes more options.
.PHONY: bench
bench: install-dev
	$(BIN)/python -m bench.run $(if $(QUICK),--quick) $(BENCH_ARGS)

# The browser apps' types, generated from the specs and committed (static/types/), and openapi-fetch's ESM
# build vendored from node_modules (static/vendor/), so `make run` serves them without node.
# tests/test_webapps_types.py runs this target into a temporary directory (TYPES_DIR, VENDOR_DIR) and checks
# that the committed files are what it produces now.
TYPES_DIR ?= static/types
VENDOR_DIR ?= static/vendor
.PHONY: types
types: $(NODE_STAMP)
	mkdir -p $(TYPES_DIR)
	node_modules/.bin/openapi-typescript openapi/openapi.json --default-non-nullable false --output $(TYPES_DIR)/openapi.d.ts
	node tools/frame_types.mjs openapi/asyncapi.json > $(TYPES_DIR)/frames.d.ts.tmp
	mv $(TYPES_DIR)/frames.d.ts.tmp $(TYPES_DIR)/frames.d.ts
	rm -rf $(VENDOR_DIR)/openapi-fetch && mkdir -p $(VENDOR_DIR)/openapi-fetch/openapi-typescript-helpers
	cp node_modules/openapi-fetch/dist/index.mjs $(VENDOR_DIR)/openapi-fetch/index.js
	cp node_modules/openapi-fetch/dist/index.d.mts $(VENDOR_DIR)/openapi-fetch/index.d.ts
	cp node_modules/openapi-fetch/LICENSE node_modules/openapi-fetch/package.json $(VENDOR_DIR)/openapi-fetch/
	cp node_modules/openapi-typescript-helpers/dist/index.d.mts $(VENDOR_DIR)/openapi-fetch/openapi-typescript-helpers/index.d.ts
	cp node_modules/openapi-typescript-helpers/LICENSE node_modules/openapi-typescript-helpers/package.json \
		$(VENDOR_DIR)/openapi-fetch/openapi-typescript-helpers/
