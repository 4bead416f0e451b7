# Redress: the two commands are `make demo` and `make test`. Everything else is a building block.
SHELL := /bin/bash
.DEFAULT_GOAL := help

SWIFT ?= swift
DEBIAN_PACKAGES := librdkafka-dev kcat postgresql pkg-config
PYTHON ?= python3
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: help deps build test test-swift test-schemas demo up broker bench clean

help:
	@echo "make demo    install what is missing, build, and run Redress on its embedded default"
	@echo "make test    install what is missing, build, and run every test"
	@echo "make bench   Kafka wrapper throughput beside plain C librdkafka (release build)"

## deps: install the Debian packages and Python tools the build and the tests need, if missing.
deps:
	@missing=""; for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
	@$(PYTHON) -c 'import jsonschema, yaml, referencing' 2>/dev/null || $(PYTHON) -m pip install --quiet jsonschema pyyaml referencing

build: deps
	$(SWIFT) build

## test: every test: the Swift suites (Kafka against the embedded cluster or $$KAFKA_BROKERS,
## PostgreSQL against a private server they start, or $$DATABASE_URL) and the schema checks.
test: deps test-schemas test-swift

test-schemas:
	$(PYTHON) schemas/tools/validate.py schemas/examples

# Serial: each suite starts Kafka clusters and waits on group joins; run all at once on a
# 2-core machine they starve each other and waits time out. `swift test` alone runs them in
# parallel (about 50 s instead of about 4 min) when the machine has room.
test-swift:
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --no-parallel

## demo: Redress on its embedded default (`redress up`): broker, PostgreSQL, migrations, every
## service built so far; Ctrl-C stops it. Sample complaints will be fed once intake exists.
demo: build
	$(SWIFT) run redress up

up: demo

broker:
	$(SWIFT) run redress broker --redress-topics --default-partitions 6

bench: deps
	$(SWIFT) build -c release --product redress-kafka-benchmark
	.build/release/redress-kafka-benchmark --rounds 30 --repeats 3

clean:
	rm -rf .build
