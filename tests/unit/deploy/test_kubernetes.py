"""The Kubernetes manifests parse, wire the probes and carry a routes file that passes check."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).resolve().parents[3] / "deploy" / "kubernetes"


def _docs() -> dict[str, dict[str, Any]]:
    docs = {}
    for path in sorted(DEPLOY.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            docs[doc["kind"]] = doc
    return docs


def test_every_manifest_parses_and_kustomization_lists_them() -> None:
    docs = _docs()
    assert {"Deployment", "ConfigMap", "Secret", "ScaledObject", "Kustomization"} <= set(docs)
    listed = set(docs["Kustomization"]["resources"])
    assert listed == {p.name for p in DEPLOY.glob("*.yaml")} - {"kustomization.yaml"}


def test_deployment_probes_grace_period_and_non_root() -> None:
    pod = _docs()["Deployment"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert pod["terminationGracePeriodSeconds"] > float(env["KAFKAHOOKS_SHUTDOWN_TIMEOUT"])
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["args"][:2] == ["run", "--config"]


def test_keda_scales_on_lag_up_to_the_partition_count() -> None:
    scaled = _docs()["ScaledObject"]["spec"]
    trigger = scaled["triggers"][0]
    assert trigger["type"] == "kafka"
    assert trigger["metadata"]["consumerGroup"] == "kafkahooks"
    assert scaled["maxReplicaCount"] >= scaled["minReplicaCount"] >= 1


def test_the_configmap_routes_pass_kafkahooks_check(tmp_path: Path) -> None:
    routes = _docs()["ConfigMap"]["data"]["routes.yaml"]
    path = tmp_path / "routes.yaml"
    path.write_text(routes)
    env = {"KAFKA_BOOTSTRAP": "kafka:9092", "TARGET_URL": "https://hooks.example.com/x",
           "WEBHOOK_SECRET": "s", "PATH": ""}
    done = subprocess.run(
        [sys.executable, "-m", "kafkahooks.cli", "check", "--config", str(path)],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "call-status" in done.stdout
