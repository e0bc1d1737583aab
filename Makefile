# The two commands: `make demo` and `make test`.  Both bootstrap what they need.

VENV ?= .venv
PY := $(VENV)/bin/python
KOJI ?= koji>=1.36,<1.37

.PHONY: demo test bench chaos chaos-long lint compat venv clean

venv:
	@tools/bootstrap.sh $(VENV) "$(KOJI)"

demo: venv
	$(PY) -m tools.demo

test: venv
	$(PY) -m pytest -q

bench: venv
	$(PY) -m tools.bench_core

# Fault injection and load (root: it mounts a small tmpfs for the lease journal).
# Short mode, seeded, for CI; writes docs/reliability.md.
chaos: venv
	$(PY) -m tools.chaos --seed 7

# Long mode, by hand: every scenario 3 times, 200 + 1,000 load tasks.
chaos-long: venv
	$(PY) -m tools.chaos --long --seed 7

# Static check: the code must run on Python 3.9 (kojid's Python on EL9).
lint: venv
	$(VENV)/bin/vermin --no-tips --violations -t=3.9- kojid_plugins orch_bridge tests tools

# The suite against another koji release, in its own venv:
#   make compat KOJI_VERSION=1.34.3
compat:
	@test -n "$(KOJI_VERSION)" || { echo "usage: make compat KOJI_VERSION=1.34.3" >&2; exit 2; }
	@tools/bootstrap.sh .venv-koji$(KOJI_VERSION) "koji==$(KOJI_VERSION)"
	.venv-koji$(KOJI_VERSION)/bin/python -m pytest -q

clean:
	rm -rf .venv .venv-koji* .pytest_cache
