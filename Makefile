# The two commands: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 5000
export FLASK_APP := wsgi:app

.PHONY: install run admin-link test migrate spec fuzz clean

$(STAMP): requirements.txt requirements-dev.txt bench/requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/flask db upgrade

# Links in e-mails and the one printed below point at this server unless PUBLIC_URL says otherwise.
run: export PUBLIC_URL ?= http://$(HOST):$(PORT)
run: migrate
	@$(BIN)/flask workspace ensure-default
	@echo ""
	@echo "API docs:  http://$(HOST):$(PORT)/api/docs  (ReDoc: http://$(HOST):$(PORT)/api/redoc)"
	@echo "Spec:      http://$(HOST):$(PORT)/api/openapi.json"
	@echo "Health:    http://$(HOST):$(PORT)/healthz  and  http://$(HOST):$(PORT)/readyz"
	@echo "Metrics:   http://$(HOST):$(PORT)/metrics"
	@echo "Log in:    open the set-password link above once, then"
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
test: install
	env -u TEST_DATABASE_URL -u TEST_REDIS_URL $(BIN)/python -m pytest -q
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
		echo "== again on $${TEST_DATABASE_URL%%@*}@… with Redis $${TEST_REDIS_URL:-off}"; \
		$(BIN)/python -m pytest -q; \
	fi

spec: install
	$(BIN)/flask spec write

# Every operation, as admin, agent, visitor and anonymous, fails on any 5xx (tools/fuzz.py).
# FUZZ_ARGS passes options: e.g. FUZZ_ARGS="--max-examples 100 --time-budget 600"; DATABASE_URL picks the database.
fuzz: install
	$(BIN)/python -m tools.fuzz $(FUZZ_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache

# The side-by-side benchmark (bench/README.md): `make bench` for the design point,
# `make bench QUICK=1` for the run of under two minutes; BENCH_ARGS passes more options.
.PHONY: bench
bench: install
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	$(BIN)/python -m bench.run $(if $(QUICK),--quick) $(BENCH_ARGS)
