"""Alert thresholds and durations: the SLOs the rules enforce, in one typed place."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Thresholds:
    """Defaults suit a laptop cluster; the local dev loop shortens the `for` durations to see alerts fast."""

    error_ratio: float = 0.01
    """5xx share of serving requests (SLO 99 %)."""
    p99_latency_seconds: float = 0.25
    """p99 of /v1/predict."""
    drift_psi: float = 0.2
    """A feature has drifted when its PSI exceeds this (counted for the dataset-level alert)."""
    drift_share: float = 0.5
    """Dataset-level drift: at least this share of the features has drifted."""
    drift_feature_psi: float = 0.5
    """Feature-level drift: any one feature's PSI above this, however few drifted."""
    drift_min_rows: int = 100
    """Ignore a replica's drift while its window holds fewer rows (PSI is noisy on few rows)."""
    model_max_age_seconds: int = 7 * 86400
    """Champion older than this: retraining is not producing better models."""
    shed_ratio: float = 0.01
    """Share of serving requests refused by admission control (503 + Retry-After): time to scale out."""
    mlflow_error_ratio: float = 0.05
    """5xx share of MLflow requests (backend / PostgreSQL trouble)."""
    backup_max_age_seconds: int = 30 * 3600
    """Last successful MLflow backup older than this (a daily schedule plus slack): backups are failing."""
    down_for: str = "2m"
    """How long a target must be down before alerting."""
    slo_for: str = "10m"
    """How long an SLO (errors, latency) must be breached before alerting."""
    drift_for: str = "5m"
    """How long drift must persist before alerting (and triggering a retrain)."""
