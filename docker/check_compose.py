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

for name in ["kafka", "postgres", "topics", "migrate", "intake", "classifier", "assignment", "sla-watcher", "notifier"]:
    if name not in services:
        problems.append(f"service {name} is missing")

for name in ["kafka", "postgres", "intake", "classifier", "assignment", "sla-watcher", "notifier"]:
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
if not re.search(r"^FROM .* AS build$", dockerfile, re.M) or dockerfile.count("FROM ") < 2:
    problems.append("Dockerfile is not multi-stage")

if problems:
    print("docker/ problems:\n  " + "\n  ".join(problems))
    sys.exit(1)
print(f"docker/compose.yaml: {len(services)} services, health checks and start order OK; Dockerfile ships every command")
