"""Where every series a rule or panel may query comes from: scrape job names and non-serving series.

Serving's own series come from mlops_contract.metrics (the single contract); the few others are listed here
with the exporter that provides them, so a query for a name no exporter produces fails a test.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from mlops_contract.metrics import exported_series


class Job(StrEnum):
    """Prometheus `job` label values (scrape jobs)."""

    SERVING = "serving"
    MLFLOW = "mlflow"
    KUBE_STATE = "kube-state-metrics"


# Prometheus itself: `up` for every scrape target.
PROMETHEUS_SERIES: Final = frozenset({"up"})
# MLflow server with --expose-prometheus (prometheus-flask-exporter), labels method and status.
MLFLOW_SERIES: Final = frozenset(
    {
        "mlflow_http_request_total",
        "mlflow_http_request_duration_seconds_bucket",
        "mlflow_http_request_duration_seconds_count",
    }
)
# kube-state-metrics (namespace-scoped, cluster only): training Jobs and serving replicas.
KUBE_STATE_SERIES: Final = frozenset(
    {
        "kube_job_status_failed",
        "kube_job_status_succeeded",
        "kube_deployment_status_replicas_available",
        "kube_statefulset_status_replicas_ready",
        "kube_cronjob_status_last_successful_time",
        "kube_cronjob_created",
    }
)


def known_series() -> frozenset[str]:
    """Every series name a rule or dashboard may use."""
    return exported_series() | PROMETHEUS_SERIES | MLFLOW_SERIES | KUBE_STATE_SERIES
