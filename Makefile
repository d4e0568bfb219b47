# One target per habit. Every target builds .venv first (idempotent: re-installs only when
# pyproject.toml or constraints.txt change).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv run test test-fast test-deep test-api-fuzz mutation lint layout-check typecheck bench chaos chaos-regressions infra-up infra-down browser clean lock

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# Run the back office locally: local Kafka broker, embedded SQLite, relay and lapse scheduler.
# sscard is not on PATH in the user's other shells: say how to put it there (README, Two commands).
run: venv
	$(BIN)/sscard infra up --kafka
	@echo 'Starting sscard run (Ctrl-C stops it). In another shell: cd $(CURDIR) && . $(BIN)/activate  # sscard on PATH'
	$(BIN)/sscard run

# The full suite, against a real Kafka broker and a real PostgreSQL (started if needed), on
# TEST_WORKERS pytest-xdist workers (most of its time is spent waiting on processes and
# servers, not computing). The fault tests run one at a time on one worker (the groups in
# tests/conftest.py); TEST_WORKERS=0 runs everything in one process (README, Tests).
TEST_WORKERS ?= 2
test: venv lint
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

# Unit tests only (in-memory, seconds).
test-fast: venv
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

# The unit tests with the state machine's deep profile: many more histories, freshly drawn,
# shrunk to a minimal one on failure and remembered in .hypothesis/ for the next run.
test-deep: venv
	$(BIN)/python -m pytest tests/unit --hypothesis-profile=deep $(PYTEST_ARGS)

# The HTTP API against its OpenAPI document (schemathesis) with many more generated requests per
# operation and role than the suite's (README, Tests): minutes.
test-api-fuzz: venv
	SSCARD_API_FUZZ_EXAMPLES=$${SSCARD_API_FUZZ_EXAMPLES:-60} $(BIN)/python -m pytest tests/e2e/test_api_schemathesis.py $(PYTEST_ARGS)

# Mutation testing of src/domain (mutmut 3, configured in pyproject.toml) against tests/unit,
# from scratch each time. Not part of `make test`: it takes a while (README, Tests). The last
# line is `killed=<k> survived=<s> score=<x>`. CI is unset for it: its pytest runs are partial
# on purpose.
mutation: venv
	rm -rf mutants
	env -u CI $(BIN)/mutmut run
	$(BIN)/python tests/mutation_score.py

lint: venv
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy --strict src
	$(BIN)/lint-imports

# Lines per top-level package under src/ (none may hold more than 40%; tests/unit/test_layout.py
# fails the suite when one does) and the import layers.
layout-check: venv
	PYTHONPATH=. $(BIN)/python tests/unit/test_layout.py
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/unit/test_layout.py
	$(BIN)/lint-imports

# Relay throughput vs a bare producer, and command-to-consumer latency (needs the local broker).
bench: venv
	$(BIN)/sscard infra up --kafka
	$(BIN)/sscard bench relay

# The back office under seeded faults, one run per seed, each with a broker, store and `sscard
# run` of its own (README, Fault injection). Stops at the first seed that breaks an invariant
# (its folder is kept). CHAOS_STORE=postgres makes a PostgreSQL cluster per run (as root).
CHAOS_SEEDS ?= 1 2 3 4 5
CHAOS_MINUTES ?= 12
CHAOS_STORE ?= sqlite
chaos: venv
	for seed in $(CHAOS_SEEDS); do \
		nice -n 10 $(BIN)/sscard chaos --seed $$seed --minutes $(CHAOS_MINUTES) \
			--store $(CHAOS_STORE) || exit 1; \
	done

# The seeds whose runs found a defect (README "Fault injection"), each as seed:minutes:store, at
# the length that found it. A fault kind added since redraws a seed's schedule, so each defect
# also has a test of its own in the suite; these keep the runs that found them.
CHAOS_REGRESSIONS ?= 44:4:sqlite 60:1:postgres 12:16:sqlite 13:20:postgres
chaos-regressions: venv
	for run in $(CHAOS_REGRESSIONS); do \
		seed=$${run%%:*}; rest=$${run#*:}; minutes=$${rest%%:*}; store=$${rest#*:}; \
		nice -n 10 $(BIN)/sscard chaos --seed $$seed --minutes $$minutes --store $$store \
			|| exit 1; \
	done

infra-up: venv
	$(BIN)/sscard infra up --kafka --postgres

infra-down: venv
	$(BIN)/sscard infra down

# The console's browser test drives Debian's chromium (Playwright's own browser download cannot
# work here), with a Chinese font for its pages and screenshots: installed when missing (root).
BROWSER_PACKAGES := chromium chromium-driver fonts-wqy-zenhei
browser:
	@if [ -x /usr/bin/chromium ] && fc-list :lang=zh | grep -q .; then \
		echo "chromium and a Chinese font are installed"; \
	else \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(BROWSER_PACKAGES); \
	fi

# Re-pin every dependency (run after changing pyproject.toml's ranges).
lock:
	rm -rf /tmp/sscard-lock && $(PYTHON) -m venv /tmp/sscard-lock
	/tmp/sscard-lock/bin/pip install -q '.[dev]'
	/tmp/sscard-lock/bin/pip freeze --exclude sscard > constraints.txt

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis mutants
