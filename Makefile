# The local stack: `make dev`, `make test`, `make test-<suite>`, `make bench`, `make chaos`, `make clean`.
# Everything runs from .venv; devstack/ does the real work.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Reinstall only when a requirement changes.
STAMP := $(VENV)/.installed
REQUIREMENTS := requirements-dev.txt $(wildcard */requirements.txt) libs/ticketing_shared/pyproject.toml

.PHONY: install dev test bench chaos lint docs images clean seed

install: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(REQUIREMENTS) | $(PY)
	$(PY) -m pip install -r requirements-dev.txt
	touch $@

dev: install
	exec $(PY) -m devstack dev

# A few hundred realistic listings in the running `make dev` stack (SEED_ARGS="--count 1000" for more).
seed: install
	$(PY) -m devstack seed $(SEED_ARGS)

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

# Faults under a purchase load, then the cross-service audit (`make test` runs a short form).
chaos: install
	$(PY) -m devstack chaos

lint: install
	$(VENV)/bin/ruff check .

# The event contract's documents, generated from ticketing_shared/events/schemas.py.
docs: install
	$(PY) -m ticketing_shared.events.asyncapi --write docs/

# One image per service, built from the repository root (each needs libs/ticketing_shared).
IMAGE_PREFIX ?= ticketing
IMAGE_TAG ?= dev
IMAGES := auth:auth_service tickets:tickets_service orders:orders_service payments:payments_service \
	expiration:expiration_service web-client:web_client

images:
	@command -v docker >/dev/null || { echo "make images needs a Docker engine"; exit 1; }
	set -e; for image in $(IMAGES); do \
		name=$${image%%:*}; folder=$${image#*:}; \
		DOCKER_BUILDKIT=1 docker build -f $$folder/Dockerfile -t $(IMAGE_PREFIX)/$$name:$(IMAGE_TAG) .; \
	done

clean:
	rm -rf .data
