#!/usr/bin/env bash
# Validates everything under deploy/ as far as this machine allows (no Docker
# engine here, so images are not built): Kubernetes manifests against the
# Kubernetes schemas, Prometheus config and alert rules with promtool, the
# compose file and Grafana provisioning as YAML/JSON with the expected shape.
# The metric names the dashboard and rules use are checked against a live
# /metrics scrape by Tests/LLMProxyTests/DeployMetricsTests.swift.
#
# Needs: promtool (Debian's prometheus package) and kubernetes-validate
# (PyPI); .ci/run installs both. Usage: scripts/validate-deploy.sh [PYTHON]
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${1:-python3}

echo "== promtool"
promtool check config deploy/prometheus/prometheus.yml
promtool check rules deploy/prometheus/alerts.yml

echo "== kubernetes manifests"
"$PYTHON" -m kubernetes_validate --strict --kubernetes-version 1.30.0 deploy/kubernetes/*.yaml

echo "== compose, grafana, dockerfile"
"$PYTHON" - <<'PY'
import json, yaml

compose = yaml.safe_load(open("deploy/compose/docker-compose.yml"))
services = compose["services"]
assert set(services) >= {"llm-proxy", "prometheus", "grafana"}, services.keys()
assert services["llm-proxy"]["build"]["dockerfile"] == "deploy/Dockerfile"
for name, service in services.items():
    assert "image" in service or "build" in service, name
for path in ["deploy/compose/grafana/provisioning/datasources/prometheus.yml",
             "deploy/compose/grafana/provisioning/dashboards/llm-proxy.yml"]:
    assert yaml.safe_load(open(path))["apiVersion"] == 1, path
dashboard = json.load(open("deploy/compose/grafana/dashboards/llm-proxy.json"))
assert dashboard["uid"] == "llm-proxy" and dashboard["panels"], "dashboard"
assert all(target["expr"] for panel in dashboard["panels"] for target in panel["targets"])

dockerfile = open("deploy/Dockerfile").read()
for needle in ["--static-swift-stdlib", "-c release", "USER 10001", "HEALTHCHECK", "EXPOSE 18000", "/etc/llm-proxy/config.yaml"]:
    assert needle in dockerfile, needle
# The bench and the soak measure the binary the image ships: the same compiler flags in both.
release_script = open("scripts/build-release.sh").read()
for flag in ["-enforce-exclusivity=unchecked", "-disable-concrete-type-metadata-mangled-name-accessors"]:
    assert flag in dockerfile and flag in release_script, flag

# The pods' grace period must exceed the gateway's drain period.
docs = [d for f in ["deploy/kubernetes/sidecar.yaml", "deploy/kubernetes/standalone.yaml"] for d in yaml.safe_load_all(open(f)) if d]
configs = [yaml.safe_load(d["data"]["config.yaml"]) for d in docs if d["kind"] == "ConfigMap"]
drain = max(config["server"]["drain_timeout_seconds"] for config in configs)
gateways = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] != "llm-proxy-valkey"]
for deployment in gateways:
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > drain, (deployment["metadata"]["name"], grace, drain)
# Several replicas share their limits through the store the manifest runs.
standalone = [d for d in yaml.safe_load_all(open("deploy/kubernetes/standalone.yaml")) if d]
shared = yaml.safe_load(next(d for d in standalone if d["kind"] == "ConfigMap")["data"]["config.yaml"])["shared_state"]
assert shared["redis_url"] == "${REDIS_URL}", shared
gateway = next(d for d in standalone if d["kind"] == "Deployment" and d["metadata"]["name"] == "llm-proxy")
env = {e["name"]: e.get("value") for e in gateway["spec"]["template"]["spec"]["containers"][0]["env"]}
assert env["REDIS_URL"].startswith("redis://llm-proxy-valkey:"), env
assert any(d["kind"] == "Service" and d["metadata"]["name"] == "llm-proxy-valkey" for d in standalone)
assert "valkey" in services and yaml.safe_load(open("deploy/compose/gateway/config.yaml"))["shared_state"]["redis_url"].startswith("redis://valkey:")
print("compose, grafana, dockerfile and manifest invariants: ok")
PY
echo "deploy/ is valid"
