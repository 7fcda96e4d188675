# The local stack: `make dev`, `make test`, `make test-<suite>`, `make bench`, `make clean`.
# Everything runs from .venv; devstack/ does the real work.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Reinstall only when a requirement changes.
STAMP := $(VENV)/.installed
REQUIREMENTS := requirements-dev.txt $(wildcard */requirements.txt) libs/ticketing_shared/pyproject.toml

.PHONY: install dev test bench lint clean

install: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(REQUIREMENTS) | $(PY)
	$(PY) -m pip install -r requirements-dev.txt
	touch $@

dev: install
	exec $(PY) -m devstack dev

# The browser tests drive Debian's Chromium; install it where it is missing (CI machines).
CHROMIUM := /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium

test: install $(CHROMIUM)
	$(PY) -m devstack test

# make test-auth, make test-shared, make test-e2e ...
test-%: install $(CHROMIUM)
	$(PY) -m devstack test $*

bench: install
	$(PY) -m devstack bench

lint: install
	$(VENV)/bin/ruff check .

clean:
	rm -rf .data
