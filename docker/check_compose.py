#!/usr/bin/env python3
"""Static checks of docker/compose.yaml and docker/Dockerfile (no Docker engine runs here).

Parses the Compose file as YAML (anchors resolved) and checks that every Redress service has the
settings, health check and start order it needs, and that the Dockerfile builds and ships every
executable the Compose file runs. Exit status 1 with a list of problems if not.
"""
import re
import sys
from pathlib import Path

import yaml

root = Path(__file__).resolve().parent
compose = yaml.safe_load((root / "compose.yaml").read_text())
dockerfile = (root / "Dockerfile").read_text()
problems = []
services = compose.get("services", {})

redress_services = ["intake", "classifier", "assignment", "sla-watcher", "notifier", "metrics"]
for name in ["kafka", "postgres", "topics", "migrate", "prometheus"] + redress_services:
    if name not in services:
        problems.append(f"service {name} is missing")

for name in ["kafka", "postgres", "prometheus"] + redress_services:
    if "healthcheck" not in services.get(name, {}):
        problems.append(f"{name} has no healthcheck")

for name, service in services.items():
    command = service.get("command") or []
    if not command or not str(command[0]).startswith("redress"):
        continue
    env = service.get("environment", {})
    for variable in ["KAFKA_BROKERS", "DATABASE_URL"]:
        if variable not in env:
            problems.append(f"{name}: environment lacks {variable}")
    executable = command[0]
    if f'"$bin/{executable}"' not in dockerfile:
        problems.append(f"{name}: the Dockerfile does not ship {executable}")
    depends = service.get("depends_on", {})
    if name not in ("topics", "migrate"):
        for dependency in ["kafka", "postgres", "topics", "migrate"]:
            if dependency not in depends:
                problems.append(f"{name}: does not wait for {dependency}")
        port = str(env.get("HTTP_PORT", ""))
        test = " ".join(service.get("healthcheck", {}).get("test", []))
        if port and f":{port}/health/ready" not in test:
            problems.append(f"{name}: healthcheck does not probe port {port}'s /health/ready")
        if not any(str(p).endswith(f":{port}") for p in service.get("ports", [])):
            problems.append(f"{name}: port {port} is not published")

if "intake" in services and "REDRESS_GUEST_KEY_SECRET" not in services["intake"].get("environment", {}):
    problems.append("intake: environment lacks REDRESS_GUEST_KEY_SECRET")
# Prometheus scrapes every Redress service at the port Compose gives it.
scrape = yaml.safe_load((root / "prometheus.yml").read_text())
targets = {target for job in scrape.get("scrape_configs", []) for static in job.get("static_configs", []) for target in static.get("targets", [])}
for name in redress_services:
    port = str(services.get(name, {}).get("environment", {}).get("HTTP_PORT", ""))
    if f"{name}:{port}" not in targets:
        problems.append(f"prometheus.yml does not scrape {name}:{port}")
kpi_jobs = [job for job in scrape.get("scrape_configs", []) if job.get("metrics_path") == "/v1/metrics"]
if not kpi_jobs or "authorization" not in kpi_jobs[0]:
    problems.append("prometheus.yml does not scrape the KPI gauges (/v1/metrics) with an API key")
if "./prometheus.yml:/etc/prometheus/prometheus.yml:ro" not in services.get("prometheus", {}).get("volumes", []):
    problems.append("prometheus does not mount docker/prometheus.yml")

# The Grafana dashboard queries only gauges the metrics service exports.
import json
grafana = json.loads((root / "grafana-dashboard.json").read_text())
exported = set(re.findall(r'"(redress_kpi_[a-z0-9_]+)"', (root.parent / "Sources/ComplaintMetrics/Gauges/KPIGauges.swift").read_text()))
for panel in grafana.get("panels", []):
    for target in panel.get("targets", []):
        for metric in re.findall(r"redress_kpi_[a-z0-9_]+", target.get("expr", "")):
            if metric not in exported:
                problems.append(f"grafana-dashboard.json panel {panel.get('title')!r} queries {metric}, which metrics does not export")

if not re.search(r"^FROM .* AS build$", dockerfile, re.M) or dockerfile.count("FROM ") < 2:
    problems.append("Dockerfile is not multi-stage")

if problems:
    print("docker/ problems:\n  " + "\n  ".join(problems))
    sys.exit(1)
print(f"docker/compose.yaml: {len(services)} services, health checks and start order OK; Dockerfile ships every command")
