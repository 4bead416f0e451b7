# Redress: the two commands are `make demo` and `make test`. Everything else is a building block.
SHELL := /bin/bash
.DEFAULT_GOAL := help

SWIFT ?= swift
DEBIAN_PACKAGES := librdkafka-dev kcat postgresql pkg-config curl python3-pip python3-aiosmtpd chromium chromium-driver python3-selenium fonts-wqy-microhei
# Debian ships promtool only inside the Prometheus server package: installed without its Recommends
# (the node exporter), and the server it starts is stopped and disabled again (only promtool is used).
PROMTOOL_PACKAGE := prometheus
PYTHON ?= python3
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Where `pip install --user` puts commands (schemathesis' `st`): on the PATH of every recipe and test.
# Worked out when make reads this file, before `deps` may install Python: ~/.local (Debian's user
# base) when there is no python3 yet.
export PATH := $(or $(shell $(PYTHON) -m site --user-base 2>/dev/null),$(HOME)/.local)/bin:$(PATH)

.PHONY: help deps build test test-swift test-schemas test-docker demo up broker bench bench-intake bench-full-loop bench-classifier bench-assignment bench-sla bench-notifier bench-metrics bench-failover clean

help:
	@echo "make demo    install what is missing, build, and run Redress on its embedded default"
	@echo "make test    install what is missing, build, and run every test"
	@echo "make bench   Kafka wrapper throughput beside plain C librdkafka (release build)"
	@echo "make bench-intake      POST /v1/complaints throughput and latency on the embedded default (release build)"
	@echo "make bench-full-loop   POST to assigned with the SLA clock started: complaints/s and p50/p99 (release build)"
	@echo "make bench-classifier  classifications per second on one core (release build)"
	@echo "make bench-assignment  assignments per second end to end, 10 hotels x 50 staff (release build)"
	@echo "make bench-sla         SLA timer lateness with 100,000 open timers, 1 and 2 replicas; idle CPU (release build)"
	@echo "make bench-notifier    webhook notifications per second, event-to-delivery delay p50/p99 (release build)"
	@echo "make bench-metrics     events per second into the metrics rollups; KPI API p50/p99 over a million complaints (release build)"
	@echo "make bench-failover    how long a killed consumer's partitions stay unread (embedded broker, kcat)"

## deps: install the Debian packages and Python tools the build and the tests need, if missing.
deps:
	@missing=""; for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@if ! dpkg -s $(PROMTOOL_PACKAGE) >/dev/null 2>&1; then \
		echo "installing $(PROMTOOL_PACKAGE) for promtool (its server is disabled again)"; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(PROMTOOL_PACKAGE) || exit 1; \
		if [ -d /run/systemd/system ]; then $(SUDO) systemctl disable --now prometheus >/dev/null 2>&1 || true; fi; \
	fi
	@$(PYTHON) -c 'import jsonschema, yaml, referencing, openapi_spec_validator' 2>/dev/null || $(call pip,jsonschema pyyaml referencing openapi-spec-validator)
	@command -v st >/dev/null 2>&1 || { $(call pip,schemathesis); } ; \
	command -v st >/dev/null 2>&1 || { echo "schemathesis is installed but its st is not on PATH: the API fuzz suites would be skipped" >&2; exit 1; }

# pip into the user's Python; on a Debian system Python (PEP 668) allow it explicitly.
pip = $(PYTHON) -m pip install --quiet $(1) 2>/dev/null || $(PYTHON) -m pip install --quiet --user --break-system-packages $(1)

build: deps
	$(SWIFT) build

## test: every test: the Swift suites (Kafka against the embedded cluster or $$KAFKA_BROKERS,
## PostgreSQL against a private server they start, or $$DATABASE_URL) and the schema checks.
test: deps test-schemas test-docker test-swift

test-schemas:
	$(PYTHON) schemas/tools/validate.py schemas/examples
	@for f in services/*/openapi.yaml; do \
		$(PYTHON) -c 'import sys; from openapi_spec_validator import validate; from openapi_spec_validator.readers import read_from_filename as r; d, u = r(sys.argv[1]); validate(d, base_uri=u); print(sys.argv[1] + ": valid OpenAPI 3.1")' $$f || exit 1; \
	done

# No Docker engine runs here: the Compose file and Dockerfile are checked statically.
test-docker:
	$(PYTHON) docker/check_compose.py
	promtool check config --syntax-only docker/prometheus.yml

# Serial: each suite starts Kafka clusters and waits on group joins; run all at once on a
# 2-core machine they starve each other and waits time out. On 2 cores the 746 tests take about
# 34 minutes after a first build of about 6 (README.md). `swift test` alone runs them in parallel,
# which is faster when the machine has room.
# A crash report keeps to the crashed thread, without registers and the image list, so the
# `Fatal error: …` line and the failing source line stay inside the tail a CI log shows.
test-swift:
	$(SWIFT) build --build-tests
	SWIFT_BACKTRACE=$${SWIFT_BACKTRACE:-preset=friendly,interactive=no,color=no} $(SWIFT) test --skip-build --no-parallel

## demo: Redress on its embedded default (`redress demo`): broker, PostgreSQL, migrations, every
## service, and the sample day's complaints (services/demo/day.jsonl) fed through intake; Ctrl-C stops it.
demo: build
	.build/debug/redress demo

up: build
	.build/debug/redress up

broker:
	$(SWIFT) run redress broker --redress-topics --default-partitions 6

bench: deps
	$(SWIFT) build -c release --product redress-kafka-benchmark
	.build/release/redress-kafka-benchmark --rounds 30 --repeats 3

# Starts the embedded default (release build) in the background under .build/bench-up and stops it (by
# its PID) when the recipe line ends; the line goes on to wait for what it needs and run the bench.
BENCH_UP = rm -rf .build/bench-up; \
	.build/release/redress up --data-dir .build/bench-up --log-level warning > .build/bench-up.log 2>&1 & up=$$!; \
	trap 'kill -TERM $$up; wait $$up' EXIT;

## bench-intake: start the embedded default (release build) in the background, run `redress loadgen`
## at concurrency 1 and 16, stop it again by PID.
bench-intake: deps
	$(SWIFT) build -c release
	@$(BENCH_UP) \
	for i in $$(seq 180); do [ -f .build/bench-up/up.env ] && curl -sf http://127.0.0.1:8081/health/ready > /dev/null && break; sleep 1; done; \
	. .build/bench-up/up.env && .build/release/redress loadgen --concurrency 1 --concurrency 16 --requests 3000 --warmup 300

## bench-full-loop: follow complaints from the POST to complaints.assigned.v1 with the SLA timer started:
## at 50/s and at full speed spread over the three hotels with an organisation, then 20/s at one hotel
## (whose assignments are serialised). Each run on a fresh embedded default (release build), started in
## the background and stopped by PID: an earlier run's complaints would reach their SLA warnings and
## escalations, and their work would be measured too.
BENCH_HOTELS = --hotel SHA-PD01 --hotel BJS-CY02 --hotel LON-KX02
FULL_LOOP_RUN = $(BENCH_UP) \
	for i in $$(seq 180); do [ -f .build/bench-up/up.env ] && curl -sf http://127.0.0.1:8084/health/ready > /dev/null && break; sleep 1; done; \
	. .build/bench-up/up.env && .build/release/redress loadgen --full-loop
bench-full-loop: deps
	$(SWIFT) build -c release
	@$(FULL_LOOP_RUN) --rate 50 --requests 1500 --warmup 200 --concurrency 32 $(BENCH_HOTELS)
	@$(FULL_LOOP_RUN) --concurrency 64 --requests 5000 --warmup 200 $(BENCH_HOTELS)
	@$(FULL_LOOP_RUN) --rate 20 --requests 600 --warmup 200 --concurrency 16 --hotel SHA-PD01

bench-classifier: deps
	$(SWIFT) build -c release --product redress
	.build/release/redress classifier bench

## bench-assignment: start the embedded default (release build) in the background, create 10 hotels
## of 50 staff through the API, publish 5000 classified complaints and time their assignments.
bench-assignment: deps
	$(SWIFT) build -c release
	@$(BENCH_UP) \
	for i in $$(seq 180); do [ -f .build/bench-up/up.env ] && curl -sf http://127.0.0.1:8083/health/ready > /dev/null && break; sleep 1; done; \
	. .build/bench-up/up.env && .build/release/redress assignment bench --complaints 5000 --hotels 10 --staff 50

## bench-sla: start the embedded default (release build) in the background for its PostgreSQL and run
## `redress sla bench`: 100,000 open timers due over 10 minutes, swept by 1 and by 2 replicas (about 21 minutes).
bench-sla: deps
	$(SWIFT) build -c release --product redress
	@$(BENCH_UP) \
	for i in $$(seq 180); do [ -f .build/bench-up/up.env ] && break; sleep 1; done; \
	. .build/bench-up/up.env && .build/release/redress sla bench --timers 100000 --spread 600 --replicas 1 --replicas 2 --idle 30

## bench-notifier: start the embedded default (release build) in the background for its PostgreSQL and run
## `redress notifier bench`: 5000 clock events at full speed, then 50 per second for 20 s, to signed webhooks.
bench-notifier: deps
	$(SWIFT) build -c release --product redress
	@$(BENCH_UP) \
	for i in $$(seq 180); do [ -f .build/bench-up/up.env ] && break; sleep 1; done; \
	. .build/bench-up/up.env && .build/release/redress notifier bench --notifications 5000 --rate 50 --seconds 20

## bench-metrics: start the embedded default (release build) in the background for its PostgreSQL and run
## `redress metrics bench`: 5000 complaints' lives into the rollups, then /v1/kpis over a million complaints.
bench-metrics: deps
	$(SWIFT) build -c release --product redress
	@$(BENCH_UP) \
	for i in $$(seq 180); do [ -f .build/bench-up/up.env ] && break; sleep 1; done; \
	. .build/bench-up/up.env && .build/release/redress metrics bench --complaints 5000 --history 1000000 --requests 200

## bench-failover: the stall after a member of a consumer group is killed, before and after the
## services' group settings, and with static membership (scripts/bench-failover.sh).
bench-failover: deps
	$(SWIFT) build --product redress
	scripts/bench-failover.sh .build/debug/redress

clean:
	rm -rf .build
