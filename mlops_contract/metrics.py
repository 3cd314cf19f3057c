"""Prometheus metrics the serving service exports: the contract with dashboards and alert rules.

Serving builds its collectors from these specs; monitoring checks every rule and panel query against
`exported_series()`. Add a metric here first, then use it on both sides.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    """Prometheus metric types we use."""

    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"


@dataclass(frozen=True)
class MetricSpec:
    """One metric family: base name (no `_total`), type, help text and label names."""

    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()

    def series(self) -> tuple[str, ...]:
        """Sample names this family exposes on /metrics."""
        match self.kind:
            case Kind.COUNTER:
                return (f"{self.name}_total",)
            case Kind.HISTOGRAM:
                return (f"{self.name}_bucket", f"{self.name}_sum", f"{self.name}_count")
            case _:
                return (self.name,)


LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000)

HTTP_REQUESTS = MetricSpec(
    "mlops_http_requests",
    Kind.COUNTER,
    "HTTP requests by route, method and status code.",
    ("route", "method", "status"),
)
HTTP_LATENCY = MetricSpec(
    "mlops_http_request_duration_seconds",
    Kind.HISTOGRAM,
    "HTTP request latency by route and status code.",
    ("route", "method", "status"),
    LATENCY_BUCKETS,
)
HTTP_SHED = MetricSpec(
    "mlops_http_requests_shed",
    Kind.COUNTER,
    "Requests refused with 503 by admission control, by reason (in_flight, buffered_bytes, queued_rows).",
    ("reason",),
)
PREDICTIONS = MetricSpec(
    "mlops_predictions",
    Kind.COUNTER,
    "Predicted rows by predicted class and model version.",
    ("model_version", "predicted_class"),
)
BATCH_ROWS = MetricSpec(
    "mlops_prediction_batch_rows",
    Kind.HISTOGRAM,
    "Rows per prediction request.",
    (),
    BATCH_BUCKETS,
)
MODEL_INFO = MetricSpec(
    "mlops_model_info",
    Kind.GAUGE,
    "1 for the model version being served, labelled with its identity.",
    ("model_name", "model_version", "model_alias", "run_id"),
)
MODEL_LOADED = MetricSpec("mlops_model_loaded", Kind.GAUGE, "1 if a model is loaded and serving, else 0.")
MODEL_RELOAD_FAILURES = MetricSpec(
    "mlops_model_reload_failures",
    Kind.COUNTER,
    "Failed attempts to load or reload a model version.",
)
MODEL_AGE = MetricSpec(
    "mlops_model_age_seconds",
    Kind.GAUGE,
    "Seconds since the served model version was registered.",
)
FEATURE_DRIFT = MetricSpec(
    "mlops_feature_drift_psi",
    Kind.GAUGE,
    "Population stability index of each feature over the recent input window vs the training profile.",
    ("feature",),
)
DRIFT_SCORE = MetricSpec(
    "mlops_drift_score",
    Kind.GAUGE,
    "Overall drift: mean PSI over features for the recent input window.",
)
DRIFT_WINDOW_ROWS = MetricSpec(
    "mlops_drift_window_rows",
    Kind.GAUGE,
    "Rows currently in the drift window (scores are noisy when small).",
)
INFERENCE_LOG_RECORDS = MetricSpec(
    "mlops_inference_log_records",
    Kind.COUNTER,
    "Inference-log and feedback records by outcome: written, dropped (queue full) or failed (write error).",
    ("kind", "outcome"),
)
FEEDBACK_ITEMS = MetricSpec(
    "mlops_feedback_items",
    Kind.COUNTER,
    "Feedback items received on /v1/feedback: accepted, or rejected (a batch is accepted or rejected whole).",
    ("outcome",),
)

ALL: tuple[MetricSpec, ...] = (
    HTTP_REQUESTS,
    HTTP_LATENCY,
    HTTP_SHED,
    PREDICTIONS,
    BATCH_ROWS,
    MODEL_INFO,
    MODEL_LOADED,
    MODEL_RELOAD_FAILURES,
    MODEL_AGE,
    FEATURE_DRIFT,
    DRIFT_SCORE,
    DRIFT_WINDOW_ROWS,
    INFERENCE_LOG_RECORDS,
    FEEDBACK_ITEMS,
)


def exported_series() -> frozenset[str]:
    """Every sample name the serving service exposes (besides process/runtime defaults)."""
    return frozenset(s for spec in ALL for s in spec.series())
