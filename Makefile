# phonepresence: the single entry point. `make demo` and `make test` work on a fresh Debian 12
# machine with Python >= 3.11: they install what is missing (apt-get needs root) and build .venv.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

# Debian packages the test servers and the demo need. Checked one binary/file each so that a
# machine that already has them does not call apt-get at all.
APT_PACKAGES := prosody prosody-modules lua-unbound lua-sec lua-event ejabberd slapd ldap-utils postgresql
SYSTEM_STAMP := /usr/bin/prosody /usr/lib/prosody/modules/mod_privilege/mod_privilege.lua /usr/sbin/ejabberdctl /usr/sbin/slapd /usr/bin/ldapsearch /usr/lib/postgresql/*/bin/initdb

.PHONY: help system venv lint typecheck unit test demo bench clean

help:
	@echo "make demo   - set everything up and run a local Prosody + Wazo simulator + component"
	@echo "make test   - set everything up, then ruff, mypy and the whole test suite"
	@echo "make bench  - run the benchmarks in bench/ and print their figures"

system:
	@missing=""; for f in $(SYSTEM_STAMP); do [ -e $$f ] || missing="$$missing $$f"; done; \
	if [ -n "$$missing" ]; then \
	  echo ">> installing Debian packages (missing:$$missing)"; \
	  if [ "$$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi; \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(APT_PACKAGES) || exit 1; \
	fi
	@$(PYTHON) -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
	  echo ">> installing python3-venv"; \
	  if [ "$$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi; \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-venv python3-pip || exit 1; }

$(STAMP): pyproject.toml
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $(STAMP)

venv: system $(STAMP)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv
	$(VENV)/bin/mypy

# pytest exits 5 when it collected nothing: that is a failure here, never a silent pass.
test: venv lint typecheck
	$(VENV)/bin/pytest -p no:cacheprovider $(PYTEST_ARGS)

unit: venv
	$(VENV)/bin/pytest -p no:cacheprovider -m "not server" $(PYTEST_ARGS)

demo: venv
	$(PY) -m devservers.demo

bench: venv
	$(PY) -m pip install -q -e '.[test,bench]'
	$(PY) -m bench

clean:
	rm -rf $(VENV) .demo .bench build *.egg-info .pytest_cache .mypy_cache .ruff_cache
