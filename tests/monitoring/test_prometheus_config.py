"""prometheus.yml passes `promtool check config` (on a copy with Kubernetes SD swapped for static targets,
because Debian's Prometheus is built without it) and discovers only the stack's serving pods."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from monitoring.prometheus_config import cluster_layout, prometheus_config, with_static_discovery
from monitoring.rules import rules_document
from monitoring.sources import Job

PROMTOOL = shutil.which("promtool")


def _cluster_config(tmp_path: Path) -> dict:  # type: ignore[type-arg]
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump(rules_document()))
    password = tmp_path / "mlflow-password"
    password.write_text("x")
    return prometheus_config(cluster_layout("mlops", str(rules), "admin", str(password), "mlflow:5000"))


def test_serving_discovery_is_limited_to_the_namespace_and_opted_in_pods(tmp_path: Path) -> None:
    config = _cluster_config(tmp_path)
    serving = next(j for j in config["scrape_configs"] if j["job_name"] == Job.SERVING)
    assert serving["kubernetes_sd_configs"] == [{"role": "pod", "namespaces": {"names": ["mlops"]}}]
    keeps = [r for r in serving["relabel_configs"] if r.get("action") == "keep"]
    assert {tuple(r["source_labels"]) for r in keeps} == {
        ("__meta_kubernetes_pod_annotation_prometheus_io_scrape",),
        ("__meta_kubernetes_pod_label_app_kubernetes_io_name",),
    }
    assert {j["job_name"] for j in config["scrape_configs"]} == {j.value for j in Job}
    mlflow = next(j for j in config["scrape_configs"] if j["job_name"] == Job.MLFLOW)
    assert mlflow["basic_auth"]["username"] == "admin"


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (scripts/setup.sh system)")
def test_promtool_check_config(tmp_path: Path) -> None:
    config = with_static_discovery(_cluster_config(tmp_path), ["127.0.0.1:8000"])
    assert "kubernetes_sd_configs" not in yaml.safe_dump(config)
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [PROMTOOL, "check", "config", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 1 rule files found" in result.stdout + result.stderr


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (scripts/setup.sh system)")
def test_promtool_rejects_a_broken_config(tmp_path: Path) -> None:
    config = with_static_discovery(_cluster_config(tmp_path), ["127.0.0.1:8000"])
    config["scrape_configs"][0]["scrape_interval"] = "soon"
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [PROMTOOL, "check", "config", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0


def test_alertmanager_routes_only_retrain_alerts_to_the_trigger(tmp_path: Path) -> None:
    from monitoring.alertmanager_config import alertmanager_config

    config = alertmanager_config("http://retrain-trigger:8080")
    route = config["route"]["routes"][0]
    assert route["receiver"] == "retrain" and route["matchers"] == ['action="retrain"']
    hook = next(r for r in config["receivers"] if r["name"] == "retrain")["webhook_configs"][0]
    assert hook["url"] == "http://retrain-trigger:8080/v1/alerts"
    amtool = shutil.which("amtool")
    if amtool is not None:
        path = tmp_path / "alertmanager.yml"
        path.write_text(yaml.safe_dump(config))
        result = subprocess.run(
            [amtool, "check-config", str(path)], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stdout + result.stderr
