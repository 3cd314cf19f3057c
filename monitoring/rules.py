"""Prometheus alert rules, built from the metrics contract and the thresholds.

Each alert names a runbook section in docs/runbooks.md. The drift alerts (DatasetDrift, FeatureDrift) carry
the label `action: retrain`, which Alertmanager routes to the retrain trigger.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlops_contract.metrics import (
    HTTP_LATENCY,
    HTTP_REQUESTS,
    HTTP_SHED,
    MODEL_AGE,
    MODEL_LOADED,
    MODEL_RELOAD_FAILURES,
)
from mlops_contract.names import Route
from monitoring.recording import DRIFTED_SHARE, MAX_PSI, recording_rules
from monitoring.sources import Job
from monitoring.thresholds import Thresholds

RUNBOOK_DOC = "docs/runbooks.md"
RETRAIN_LABEL = ("action", "retrain")


@dataclass(frozen=True)
class AlertRule:
    """One alert."""

    name: str
    expr: str
    duration: str
    severity: str
    summary: str
    extra_labels: dict[str, str] = field(default_factory=dict)

    @property
    def runbook_anchor(self) -> str:
        """Anchor of this alert's section in docs/runbooks.md (GitHub's heading slug)."""
        return self.name.lower()

    def as_dict(self) -> dict[str, Any]:
        """Prometheus rule-file form."""
        return {
            "alert": self.name,
            "expr": self.expr,
            "for": self.duration,
            "labels": {"severity": self.severity, **self.extra_labels},
            "annotations": {
                "summary": self.summary,
                "runbook_url": f"{RUNBOOK_DOC}#{self.runbook_anchor}",
            },
        }


def _down(job: Job) -> str:
    # `absent` covers "never scraped" (e.g. the Service has no endpoints), `== 0` a failing scrape.
    return f'sum(up{{job="{job}"}}) == 0 or absent(up{{job="{job}"}})'


BACKUP_CRONJOB = "mlflow-backup"


def _backup_stale(t: Thresholds) -> AlertRule:
    # kube-state-metrics emits last_successful_time only after a first success: until then the CronJob's
    # creation time stands in, so a backup that has never worked alerts too (once it is old enough).
    # `or` matches label sets (the metric name aside), so the success time wins whenever it exists.
    cron = f'cronjob="{BACKUP_CRONJOB}"'
    return AlertRule(
        "MlflowBackupStale",
        f"time() - max(kube_cronjob_status_last_successful_time{{{cron}}} or kube_cronjob_created{{{cron}}})"
        f" > {t.backup_max_age_seconds}",
        "15m",
        "warning",
        f"No successful MLflow backup (database + artifacts) for {t.backup_max_age_seconds // 3600} hours.",
    )


def alert_rules(t: Thresholds | None = None) -> list[AlertRule]:
    """Every platform alert."""
    t = t or Thresholds()
    serving = f'job="{Job.SERVING}"'
    requests = HTTP_REQUESTS.series()[0]
    buckets = HTTP_LATENCY.series()[0]
    predict = f'route="{Route.PREDICT}"'
    return [
        AlertRule(
            "ServingDown",
            _down(Job.SERVING),
            t.down_for,
            "critical",
            "No serving replica answers scrapes: predictions are unavailable.",
        ),
        AlertRule(
            "ServingNoReadyReplicas",
            'kube_deployment_status_replicas_available{deployment="serving"} == 0',
            t.down_for,
            "critical",
            "The serving Deployment has no available (ready) replicas.",
        ),
        AlertRule(
            "ServingNoModelLoaded",
            f"max({MODEL_LOADED.name}{{{serving}}}) == 0",
            "5m",
            "critical",
            "Serving is up but has no model loaded (registry unreachable or no champion).",
        ),
        AlertRule(
            "ServingHighErrorRatio",
            f'sum(rate({requests}{{{serving},status=~"5.."}}[5m])) / sum(rate({requests}{{{serving}}}[5m]))'
            f" > {t.error_ratio}",
            t.slo_for,
            "warning",
            f"More than {t.error_ratio:.0%} of serving requests fail with 5xx.",
        ),
        AlertRule(
            "ServingHighLatencyP99",
            f"histogram_quantile(0.99, sum by (le) (rate({buckets}{{{serving},{predict}}}[5m])))"
            f" > {t.p99_latency_seconds}",
            t.slo_for,
            "warning",
            f"p99 latency of {Route.PREDICT} is above {t.p99_latency_seconds * 1000:.0f} ms.",
        ),
        AlertRule(
            "ServingModelReloadFailing",
            # Two failures: one transient hiccup on one replica is not worth a page; a broken champion
            # fails on every replica and again at each retry (MLOPS_BROKEN_VERSION_RETRY_SECONDS).
            f"sum(increase({MODEL_RELOAD_FAILURES.series()[0]}{{{serving}}}[30m])) >= 2",
            "1m",
            "warning",
            "Serving fails to load the aliased model version: replicas keep serving the previous one.",
        ),
        AlertRule(
            "ServingShedding",
            f"sum(rate({HTTP_SHED.series()[0]}{{{serving}}}[5m])) / sum(rate({requests}{{{serving}}}[5m]))"
            f" > {t.shed_ratio}",
            t.slo_for,
            "warning",
            f"Serving refuses more than {t.shed_ratio:.0%} of requests with 503 (admission limits reached).",
        ),
        AlertRule(
            "DatasetDrift",
            f"max({DRIFTED_SHARE}{{{serving}}}) >= {t.drift_share}",
            t.drift_for,
            "warning",
            f"At least {t.drift_share:.0%} of the features drifted (PSI > {t.drift_psi}):"
            " retraining is triggered.",
            {RETRAIN_LABEL[0]: RETRAIN_LABEL[1]},
        ),
        AlertRule(
            "FeatureDrift",
            f"max({MAX_PSI}{{{serving}}}) > {t.drift_feature_psi}",
            t.drift_for,
            "warning",
            f"A feature drifted strongly (PSI > {t.drift_feature_psi}); the dashboard's per-feature panels"
            " show which: retraining is triggered.",
            {RETRAIN_LABEL[0]: RETRAIN_LABEL[1]},
        ),
        AlertRule(
            "ModelTooOld",
            f"min({MODEL_AGE.name}{{{serving}}}) > {t.model_max_age_seconds}",
            "30m",
            "warning",
            f"The served model is older than {t.model_max_age_seconds // 86400} days.",
        ),
        AlertRule(
            "MlflowDown",
            _down(Job.MLFLOW),
            t.down_for,
            "critical",
            "The MLflow tracking server does not answer: training and model reloads fail.",
        ),
        AlertRule(
            "MlflowBackendErrors",
            f'sum(rate(mlflow_http_request_total{{job="{Job.MLFLOW}",status=~"5.."}}[5m]))'
            f' / sum(rate(mlflow_http_request_total{{job="{Job.MLFLOW}"}}[5m])) > {t.mlflow_error_ratio}',
            "5m",
            "critical",
            "MLflow answers with 5xx: its PostgreSQL backend or artifact store is failing.",
        ),
        AlertRule(
            "PostgresNotReady",
            'kube_statefulset_status_replicas_ready{statefulset="mlflow-postgres"} == 0',
            t.down_for,
            "critical",
            "PostgreSQL (MLflow's backend store) has no ready replica (pg_isready fails).",
        ),
        AlertRule(
            "RetrainingFailing",
            'max by (job_name) (kube_job_status_failed{job_name=~"training-.*"}) > 0',
            "1m",
            "warning",
            "A training Job failed (bootstrap, scheduled or drift-triggered retraining).",
        ),
        _backup_stale(t),
    ]


def rules_document(t: Thresholds | None = None) -> dict[str, Any]:
    """The rules file Prometheus loads."""
    # One group: rules in a group run in order, so alerts see this evaluation's recorded drift series.
    rules = [r.as_dict() for r in recording_rules(t)] + [r.as_dict() for r in alert_rules(t)]
    return {"groups": [{"name": "mlops-platform", "rules": rules}]}
