# The two commands: `make demo` and `make test`.  Both bootstrap what they need.

VENV ?= .venv
PY := $(VENV)/bin/python
KOJI ?= koji>=1.36,<1.37

.PHONY: demo test bench bench-containers chaos chaos-long lint compat venv clean \
	up status logs-worker shell-worker down

venv:
	@tools/bootstrap.sh $(VENV) "$(KOJI)"

demo: venv
	$(PY) -m tools.demo

test: venv
	$(PY) -m pytest -q

bench: venv
	$(PY) -m tools.bench_core

# podman build roots: first output, removal, 20 at once
bench-containers: venv
	$(PY) -m tools.bench_containers

# Fault injection and load (root: it mounts a small tmpfs for the lease journal).
# Short mode, seeded, for CI; writes docs/reliability.md.
chaos: venv
	$(PY) -m tools.chaos --seed 7

# Long mode, by hand: every scenario 3 times, 200 + 1,000 load tasks.
chaos-long: venv
	$(PY) -m tools.chaos --long --seed 7

# Static checks: the code must run on Python 3.9 (kojid's Python on EL9);
# hadolint on the Dockerfile, shellcheck on every shell script, compose.yaml parses.
lint: venv
	$(VENV)/bin/vermin --no-tips --violations -t=3.9- kojid_plugins orch_bridge tests tools
	tools/lint.sh $(VENV)

# The suite against another koji release, in its own venv:
#   make compat KOJI_VERSION=1.34.3
compat:
	@test -n "$(KOJI_VERSION)" || { echo "usage: make compat KOJI_VERSION=1.34.3" >&2; exit 2; }
	@tools/bootstrap.sh .venv-koji$(KOJI_VERSION) "koji==$(KOJI_VERSION)"
	.venv-koji$(KOJI_VERSION)/bin/python -m pytest -q

# The worker image beside a Boxed Koji deployment (see "Worker image" in the README):
#   make up [WORKERS=2]   then   make status | logs-worker | shell-worker | down
# (Boxed Koji's README writes "make up --profile workers"; make itself rejects
# --profile as an unknown option, so the profile is a make variable here, PROFILE,
# and defaults to workers: compose.yaml's only service is in that profile.)
# COMPOSE: podman-compose from PATH, else the one make venv put in $(VENV)/bin.
ifeq ($(origin COMPOSE),undefined)
COMPOSE := $(or $(shell command -v podman-compose 2>/dev/null),$(VENV)/bin/podman-compose)
endif
COMPOSE_FILE ?= compose.yaml
PROJECT_NAME ?= koji-worker
PROFILE ?= workers
WORKERS ?= 1
# which instance make shell-worker opens when several run
INDEX ?= 1
# status, logs, shell and down always see the workers, whatever PROFILE says
compose = $(COMPOSE) -f $(COMPOSE_FILE) -p $(PROJECT_NAME)
workers = $(compose) --profile workers
# one line, then stop, when COMPOSE names no command
compose-found = @command -v $(firstword $(COMPOSE)) >/dev/null 2>&1 || { \
	echo "podman-compose not found: '$(firstword $(COMPOSE))' is not a command; install \
	podman-compose on PATH, run 'make venv', or set COMPOSE=..." >&2; exit 127; }

up:
	$(compose-found)
	$(compose) $(if $(PROFILE),--profile $(PROFILE)) up -d \
		$(if $(filter workers,$(PROFILE)),--scale koji-worker=$(WORKERS))
	@$(if $(filter workers,$(PROFILE)),:,echo "make up: started no koji-worker: it is in \
	profile workers, and PROFILE='$(PROFILE)'; run 'make up PROFILE=workers'" >&2)

status:
	$(compose-found)
	$(workers) ps

logs-worker:
	$(compose-found)
	$(workers) logs -f koji-worker

shell-worker:
	$(compose-found)
	$(workers) exec --index $(INDEX) koji-worker /bin/bash

down:
	$(compose-found)
	$(workers) down

clean:
	rm -rf .venv .venv-koji* .pytest_cache
