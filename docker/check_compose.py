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

# Published ports: only intake (guests, staff) and the metrics dashboard face the network. The other
# services' APIs and /metrics, and Prometheus (every hotel's KPI figures, no sign-in), stay on loopback.
public = {"intake", "metrics"}
for name, service in services.items():
    for mapping in service.get("ports", []):
        text = str(mapping)
        parts = text.split(":")
        if len(parts) < 3 and name not in public:
            problems.append(f"{name}: port {text} is published on every host interface (bind it to 127.0.0.1:)")
        elif len(parts) >= 3 and parts[0] not in ("127.0.0.1", "[::1]") and name not in public:
            problems.append(f"{name}: port {text} is published on {parts[0]}, not loopback")

# The database password: the postgres image takes POSTGRES_PASSWORD as it is, the services a URL in which
# / @ % ? # would have to be percent-encoded. The URL carries no password; the image's entry point
# (docker/database-url.sh) puts it in encoded, and must give back exactly the password for any characters.
import subprocess
import urllib.parse
for name, service in services.items():
    url = str(service.get("environment", {}).get("DATABASE_URL", ""))
    if "POSTGRES_PASSWORD" in url or re.match(r"^[a-z]+://[^@/]*:[^@/]*@", url):
        problems.append(f"{name}: DATABASE_URL carries the password (one with / @ % ? # breaks it); leave it to docker/database-url.sh")
if not re.search(r'^ENTRYPOINT \["/app/bin/database-url.sh"\]', dockerfile, re.M) or "docker/database-url.sh /app/bin/database-url.sh" not in dockerfile:
    problems.append("Dockerfile does not ship docker/database-url.sh as the entry point")
for password in ["plain", "a/b@c%d?e#f:g", "+/=base64+/==", "it's \"q\" \\ | & $x `y` 密码", "%2F"]:
    run = subprocess.run(
        ["sh", str(root / "database-url.sh"), "sh", "-c", 'printf "%s\\n%s" "$DATABASE_URL" "${POSTGRES_PASSWORD-unset}"'],
        env={"PATH": "/usr/bin:/bin", "POSTGRES_PASSWORD": password, "DATABASE_URL": "postgres://redress@postgres:5432/redress"},
        capture_output=True, text=True)
    lines = run.stdout.split("\n")
    parsed = urllib.parse.urlsplit(lines[0]) if run.returncode == 0 else None
    if parsed is None or urllib.parse.unquote(parsed.password or "") != password or (parsed.hostname, parsed.port, parsed.path) != ("postgres", 5432, "/redress"):
        problems.append(f"docker/database-url.sh does not carry the password {password!r} into DATABASE_URL: {run.stdout!r} {run.stderr!r}")
    elif lines[1:] != ["unset"]:
        problems.append("docker/database-url.sh leaves POSTGRES_PASSWORD in the command's environment")

# Notifier endpoints: a variable the rules file falls back from to something of its own (the demo's
# sink on 127.0.0.1:8089, a development token) must be required in Compose: passed empty, the fallback
# applies and every robot message or SMS goes to an address nothing listens on, for hours, then given up.
rules = yaml.safe_load((root.parent / "services/notifier/rules.yaml").read_text())
notifier_env = services.get("notifier", {}).get("environment", {})
for endpoint_name, endpoint in (rules.get("endpoints") or {}).items():
    values = [endpoint.get("url", ""), endpoint.get("secret", "")] + list((endpoint.get("headers") or {}).values())
    for value in values:
        for variable, fallback in re.findall(r"\$\{([A-Z0-9_]+):-([^}]*)\}", str(value)):
            if not fallback:
                continue
            given = str(notifier_env.get(variable, ""))
            if not given.startswith("${" + variable + ":?"):
                problems.append(f"notifier: {variable} (endpoint {endpoint_name}) must be required (${{{variable}:?…}}): "
                                f"unset or empty, the rules file falls back to {fallback!r}")

# Every variable Compose gives a Redress container is read by something: a setting of the code (its
# UPPER_SNAKE name, or the dotted key whose name it is), a ${NAME} of a configuration file under services/,
# or the entry point. A misspelt one (SMTP_HOSTNAME) would be ignored without a word.
known = {"POSTGRES_PASSWORD"}
for source in (root.parent / "Sources").rglob("*.swift"):
    text = source.read_text()
    known.update(re.findall(r'"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)"', text))
    known.update(key.replace(".", "_").replace("-", "_").upper() for key in re.findall(r'"([a-z][a-z0-9-]*(?:\.[a-z0-9-]+)+)"', text))
for config in (root.parent / "services").rglob("*.yaml"):
    known.update(re.findall(r"\$\{([A-Z0-9_]+)", config.read_text()))
for name, service in services.items():
    if service.get("image") != "redress:latest":
        continue
    for variable in service.get("environment", {}):
        if variable not in known:
            problems.append(f"{name}: {variable} is set, but nothing in Sources/ or services/ reads it")

# Every variable Compose takes from docker/.env is in docker/.env.example, where the operator finds it.
example = {line.split("=", 1)[0] for line in (root / ".env.example").read_text().splitlines() if "=" in line and not line.startswith("#")}
for variable in sorted(set(re.findall(r"\$\{([A-Z0-9_]+)", (root / "compose.yaml").read_text()))):
    if variable not in example:
        problems.append(f"compose.yaml takes {variable} from docker/.env, but docker/.env.example does not list it")

if problems:
    print("docker/ problems:\n  " + "\n  ".join(problems))
    sys.exit(1)
print(f"docker/compose.yaml: {len(services)} services, health checks and start order OK; Dockerfile ships every command")
