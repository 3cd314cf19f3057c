"""prometheus.yml for the cluster (pod discovery in one namespace) and for local processes (static targets).

Both come from one function, so the job names and labels rules rely on are the same everywhere.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from mlops_contract.names import Route
from monitoring.sources import Job

PLATFORM_LABEL = "app.kubernetes.io/name"


def _label_meta(label: str) -> str:
    """Kubernetes label -> the SD meta label Prometheus exposes for it."""
    return "__meta_kubernetes_pod_label_" + "".join(c if c.isalnum() else "_" for c in label)


@dataclass(frozen=True)
class MlflowTarget:
    """MLflow's /metrics: behind basic auth in the cluster, open in the local dev loop."""

    address: str
    username: str | None = None
    password_file: str | None = None


@dataclass(frozen=True)
class Layout:
    """Where the scrape targets are."""

    serving_namespace: str | None = None
    """Discover annotated serving pods in this namespace (cluster)."""
    serving_targets: tuple[str, ...] = ()
    """...or scrape these host:port targets (local)."""
    mlflow: MlflowTarget | None = None
    kube_state_metrics: str | None = None
    alertmanager: str | None = None
    rule_files: tuple[str, ...] = ()
    scrape_interval: str = "15s"
    evaluation_interval: str = "15s"


def _serving_job(layout: Layout) -> dict[str, Any]:
    job: dict[str, Any] = {"job_name": Job.SERVING.value, "metrics_path": Route.METRICS.value}
    if layout.serving_namespace is None:
        job["static_configs"] = [{"targets": list(layout.serving_targets)}]
        return job
    job["kubernetes_sd_configs"] = [{"role": "pod", "namespaces": {"names": [layout.serving_namespace]}}]
    job["relabel_configs"] = [
        # Only pods that opt in (the serving Deployment's template annotations) and only serving pods.
        {
            "source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"],
            "regex": "true",
            "action": "keep",
        },
        {"source_labels": [_label_meta(PLATFORM_LABEL)], "regex": Job.SERVING.value, "action": "keep"},
        {
            "source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_path"],
            "regex": "(.+)",
            "target_label": "__metrics_path__",
        },
        {
            "source_labels": ["__address__", "__meta_kubernetes_pod_annotation_prometheus_io_port"],
            "regex": "([^:]+)(?::\\d+)?;(\\d+)",
            "replacement": "$1:$2",
            "target_label": "__address__",
        },
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
    ]
    return job


def prometheus_config(layout: Layout) -> dict[str, Any]:
    """The whole prometheus.yml."""
    jobs = [_serving_job(layout)]
    if layout.mlflow is not None:
        mlflow_job: dict[str, Any] = {
            "job_name": Job.MLFLOW.value,
            "metrics_path": "/metrics",
            "static_configs": [{"targets": [layout.mlflow.address]}],
        }
        if layout.mlflow.username is not None:
            mlflow_job["basic_auth"] = {
                "username": layout.mlflow.username,
                "password_file": layout.mlflow.password_file,
            }
        jobs.append(mlflow_job)
    if layout.kube_state_metrics is not None:
        jobs.append(
            {
                "job_name": Job.KUBE_STATE.value,
                # kube-state-metrics' own `namespace`/`job_name` labels must win over target labels.
                "honor_labels": True,
                "static_configs": [{"targets": [layout.kube_state_metrics]}],
            }
        )
    config: dict[str, Any] = {
        "global": {
            "scrape_interval": layout.scrape_interval,
            "evaluation_interval": layout.evaluation_interval,
        },
        "rule_files": list(layout.rule_files),
        "scrape_configs": jobs,
    }
    if layout.alertmanager is not None:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [layout.alertmanager]}]}]}
    return config


def with_static_discovery(config: dict[str, Any], targets: list[str]) -> dict[str, Any]:
    """A copy with Kubernetes SD swapped for static targets (Debian's Prometheus is built without it)."""
    out = copy.deepcopy(config)
    for job in out["scrape_configs"]:
        if job.pop("kubernetes_sd_configs", None) is not None:
            job.pop("relabel_configs", None)
            job["static_configs"] = [{"targets": targets}]
    return out


KUBE_STATE_METRICS_PORT = 8080
ALERTMANAGER_PORT = 9093


def cluster_layout(
    namespace: str, rule_file: str, mlflow_user: str, mlflow_password_file: str, mlflow_address: str
) -> Layout:
    """What Prometheus scrapes in a stack's namespace (the Services are the platform's own)."""
    return Layout(
        serving_namespace=namespace,
        mlflow=MlflowTarget(mlflow_address, mlflow_user, mlflow_password_file),
        kube_state_metrics=f"kube-state-metrics:{KUBE_STATE_METRICS_PORT}",
        alertmanager=f"alertmanager:{ALERTMANAGER_PORT}",
        rule_files=(rule_file,),
    )
