# The local stack: `make dev`, `make test`, `make test-<suite>`, `make bench`, `make chaos`, `make clean`.
# Everything runs from .venv; devstack/ does the real work.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Two requirement sets, each with its stamp so pip runs only when one of its files changes:
# what running the suite needs (requirements.txt: `make dev`, `make bench`) and what the
# tests and lint add (requirements-dev.txt: `make test`, `make lint`).
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
RUN_REQUIREMENTS := requirements.txt $(filter-out helm/requirements.txt,$(wildcard */requirements.txt)) \
	libs/ticketing_shared/pyproject.toml
DEV_REQUIREMENTS := requirements-dev.txt helm/requirements.txt

.PHONY: install install-run dev test bench chaos lint docs images clean seed

# Everything; `make install-run` only what `make dev` needs.
install: $(DEV_STAMP)
install-run: $(RUN_STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): $(RUN_REQUIREMENTS) | $(PY)
	$(PY) -m pip install -r requirements.txt
	touch $@

$(DEV_STAMP): $(RUN_STAMP) $(DEV_REQUIREMENTS)
	$(PY) -m pip install -r requirements-dev.txt
	touch $@

dev: install-run
	@exec $(PY) -m devstack dev

# A few hundred realistic listings in the running `make dev` stack (SEED_ARGS="--count 1000" for more).
seed: install-run
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

bench: install-run
	$(PY) -m devstack bench

# Faults under a purchase load, then the cross-service audit (`make test` runs a short form).
chaos: install
	$(PY) -m devstack chaos

lint: install
	$(VENV)/bin/ruff check .

# The event contract's documents, generated from ticketing_shared/events/schemas.py.
docs: install-run
	$(PY) -m ticketing_shared.events.asyncapi --write docs/

# The images, from the root Dockerfile, named as the chart pulls them:
# $(REGISTRY)/$(IMAGE_REPOSITORY)/<image>:$(IMAGE_TAG), the tag defaulting to the chart's
# appVersion. `make images` builds (REGISTRY=localhost for a local cluster), `make push
# REGISTRY=ghcr.io IMAGE_REPOSITORY=<owner>/<repo>` builds and pushes, `make kind-load`
# copies the local build into a kind cluster. The stripe-double image is the Stripe test
# double a trial install runs.
.PHONY: push kind-load
APP_VERSION := $(shell sed -n 's/^appVersion: *"*\([^"]*\)"*$$/\1/p' helm/Chart.yaml)
REGISTRY ?= localhost
IMAGE_REPOSITORY ?= ticketing
IMAGE_TAG ?= $(APP_VERSION)
KIND_CLUSTER ?= kind
IMAGES := auth:auth_service tickets:tickets_service orders:orders_service payments:payments_service \
	expiration:expiration_service web-client:web_client stripe-double:
IMAGE_NAMES := $(foreach image,$(IMAGES),$(REGISTRY)/$(IMAGE_REPOSITORY)/$(firstword $(subst :, ,$(image))):$(IMAGE_TAG))

images:
	@command -v docker >/dev/null || { echo "make images needs a Docker engine"; exit 1; }
	set -e; for image in $(IMAGES); do \
		name=$${image%%:*}; folder=$${image#*:}; \
		if [ -n "$$folder" ]; then build="--build-arg SERVICE=$$folder"; else build="--target $$name"; fi; \
		DOCKER_BUILDKIT=1 docker build $$build -t $(REGISTRY)/$(IMAGE_REPOSITORY)/$$name:$(IMAGE_TAG) .; \
	done

push:
	@[ "$(REGISTRY)" != localhost ] || { echo "make push needs REGISTRY=<registry> (and IMAGE_REPOSITORY=<owner>/<repo>)"; exit 1; }
	$(MAKE) images
	set -e; for name in $(IMAGE_NAMES); do docker push $$name; done

kind-load:
	set -e; for name in $(IMAGE_NAMES); do kind load docker-image --name $(KIND_CLUSTER) $$name; done

clean:
	rm -rf .data
