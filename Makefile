# lapor-hub: `make run` runs the whole system locally, `make test` runs the tests.
# Every target installs or starts what it needs; see README.md.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STACK  := deploy/local/stack.sh
export LAPOR_HUB_KAFKA_PORT ?= 19092
export LAPOR_HUB_PG_PORT ?= 55432
export LAPOR_HUB_KAFKA_BOOTSTRAP_SERVERS ?= 127.0.0.1:$(LAPOR_HUB_KAFKA_PORT)
ifeq ($(origin LAPOR_HUB_DATABASE_URL)$(origin DATABASE_URL),undefinedundefined)
# No server given: the services use the cluster that stack.sh runs.
export LAPOR_HUB_DATABASE_URL := postgresql://lapor_hub:lapor_hub@127.0.0.1:$(LAPOR_HUB_PG_PORT)/lapor_hub
export LAPOR_HUB_LOCAL_PG := 1
endif

.DEFAULT_GOAL := install
.PHONY: install up down status logs migrate topics schemas run test unit integration lint format typecheck check bench chaos clean

install: $(VENV)/.installed ## create .venv and install lapor-hub with its dev tools

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

up: install ## start Kafka and PostgreSQL (harmless when already up), create topics
	@$(STACK) up
	@$(BIN)/lapor-hub topics ensure

down: ## stop Kafka and PostgreSQL
	@$(STACK) down

status:
	@$(STACK) status

logs:
	@$(STACK) logs $(COMPONENT)

migrate: up ## apply every service's database migrations
	@$(BIN)/lapor-hub migrate

topics: up

schemas: install ## regenerate shared/schemas/ from the event contracts
	@$(BIN)/lapor-hub schemas export

run: migrate ## the stack, every service and a demo feed in the foreground; Ctrl-C stops all
	@LAPOR_HUB_DEMO=$(if $(filter 0,$(DEMO)),0,1) deploy/local/run.sh

test: migrate ## every test, against the real Kafka and PostgreSQL
	$(BIN)/pytest -q $(PYTEST_ARGS)

unit: install
	$(BIN)/pytest -q tests/unit $(PYTEST_ARGS)

lint: install ## ruff (lint and format) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

typecheck: install
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

check: lint test

bench: migrate ## throughput and latency per stage beside the raw Kafka/PostgreSQL floor
	@command -v wrk >/dev/null || [ "$$(id -u)" != 0 ] || { echo "installing wrk (intake's flat-out load)"; \
	  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; } \
	  || echo "wrk not installed: intake's flat-out figure comes from a Python client"
	$(BIN)/python -m bench $(BENCH_ARGS)

chaos: install ## faults during a steady load on a stack of its own; invariants to chaos-results.json
	$(BIN)/python -m bench.chaos $(CHAOS_ARGS)

clean: down
	rm -rf .local $(VENV)
