"""Grafana dashboards built with grafana-foundation-sdk: model serving and platform health.

Panels are declared as data (title, queries, unit) and rendered by the SDK; tests read the queries back out of
the generated JSON, so what is checked is what Grafana gets.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef, VariableRefresh

from mlops_contract.metrics import (
    BATCH_ROWS,
    DRIFT_SCORE,
    FEATURE_DRIFT,
    FEEDBACK_ITEMS,
    HTTP_LATENCY,
    HTTP_REQUESTS,
    HTTP_SHED,
    INFERENCE_LOG_RECORDS,
    MODEL_AGE,
    MODEL_INFO,
    MODEL_LOADED,
    MODEL_RELOAD_FAILURES,
    PREDICTIONS,
)
from mlops_contract.names import Route
from monitoring.recording import FEATURE_PSI
from monitoring.sources import Job

DATASOURCE_UID = "prometheus"
DATASOURCE = DataSourceRef(type_val="prometheus", uid=DATASOURCE_UID)


@dataclass(frozen=True)
class PanelSpec:
    """One panel: queries as (PromQL, legend)."""

    title: str
    queries: tuple[tuple[str, str], ...]
    unit: str = "short"
    kind: str = "timeseries"  # or "stat"
    width: int = 12
    repeat: str | None = None
    """A dashboard variable: Grafana draws one copy of the panel per selected value."""


@dataclass(frozen=True)
class VariableSpec:
    """A query variable: the values of `label` on the series `query` selects."""

    name: str
    label: str
    query: str


@dataclass(frozen=True)
class DashboardSpec:
    """A dashboard: uid (stable URL), title, panels in order."""

    uid: str
    title: str
    panels: tuple[PanelSpec, ...]
    variables: tuple[VariableSpec, ...] = ()


SERVING = f'job="{Job.SERVING}"'
PREDICT = f'route="{Route.PREDICT}"'


def _quantile(q: float) -> tuple[str, str]:
    expr = (
        f"histogram_quantile({q}, sum by (le) (rate({HTTP_LATENCY.series()[0]}{{{SERVING},{PREDICT}}}[1m])))"
    )
    return expr, f"p{round(q * 100)}"


def serving_dashboard() -> DashboardSpec:
    """Traffic, latency, errors, predictions by class, served version, drift per feature, model age."""
    requests = HTTP_REQUESTS.series()[0]
    rows = BATCH_ROWS.series()[0]
    log_records = INFERENCE_LOG_RECORDS.series()[0]
    feedback = FEEDBACK_ITEMS.series()[0]
    return DashboardSpec(
        "mlops-serving",
        "MLOps / Model serving",
        (
            PanelSpec(
                "Requests per second by status",
                ((f"sum by (status) (rate({requests}{{{SERVING},{PREDICT}}}[1m]))", "{{status}}"),),
                "reqps",
            ),
            PanelSpec("Predict latency", (_quantile(0.5), _quantile(0.9), _quantile(0.99)), "s"),
            PanelSpec(
                "5xx error ratio",
                (
                    (
                        # `or vector(0)`: no 5xx at all is a ratio of 0, not "no data".
                        f'(sum(rate({requests}{{{SERVING},status=~"5.."}}[5m])) or vector(0))'
                        f" / sum(rate({requests}{{{SERVING}}}[5m]))",
                        "5xx ratio",
                    ),
                ),
                "percentunit",
            ),
            PanelSpec(
                # Admission control's refusals (503 + Retry-After): the capacity signal before latency grows.
                "Shed requests per second by reason",
                ((f"sum by (reason) (rate({HTTP_SHED.series()[0]}{{{SERVING}}}[1m]))", "{{reason}}"),),
                "reqps",
            ),
            PanelSpec(
                "Predictions by class",
                (
                    (
                        f"sum by (predicted_class) (rate({PREDICTIONS.series()[0]}{{{SERVING}}}[1m]))",
                        "class {{predicted_class}}",
                    ),
                ),
                "short",
            ),
            PanelSpec(
                "Rows per request (median, p99)",
                (
                    (
                        f"histogram_quantile(0.5, sum by (le) (rate({rows}{{{SERVING}}}[5m])))",
                        "median",
                    ),
                    (
                        f"histogram_quantile(0.99, sum by (le) (rate({rows}{{{SERVING}}}[5m])))",
                        "p99",
                    ),
                ),
                "short",
            ),
            PanelSpec(
                "Served model version",
                (
                    (
                        f"max by (model_name, model_version) ({MODEL_INFO.name}{{{SERVING}}})",
                        "{{model_name}} v{{model_version}}",
                    ),
                ),
                "short",
                "stat",
                8,
            ),
            PanelSpec(
                "Replicas with a model loaded",
                ((f"sum({MODEL_LOADED.name}{{{SERVING}}})", "loaded"), (f"sum(up{{{SERVING}}})", "up")),
                "short",
                "stat",
                8,
            ),
            PanelSpec(
                "Model age",
                ((f"max({MODEL_AGE.name}{{{SERVING}}})", "age"),),
                "s",
                "stat",
                8,
            ),
            PanelSpec(
                "Drift per feature (PSI)",
                ((f"max by (feature) ({FEATURE_DRIFT.name}{{{SERVING}}})", "{{feature}}"),),
                "short",
            ),
            PanelSpec(
                "Drift score (mean PSI) and reload failures",
                (
                    (f"max({DRIFT_SCORE.name}{{{SERVING}}})", "drift score"),
                    (
                        f"sum(increase({MODEL_RELOAD_FAILURES.series()[0]}{{{SERVING}}}[1h]))",
                        "reload failures (1h)",
                    ),
                ),
                "short",
            ),
            PanelSpec(
                "Inference log records and feedback",
                (
                    (
                        f"sum by (kind, outcome) (rate({log_records}{{{SERVING}}}[5m]))",
                        "{{kind}} {{outcome}}",
                    ),
                    (f"sum by (outcome) (rate({feedback}{{{SERVING}}}[5m]))", "feedback items {{outcome}}"),
                ),
                "ops",
            ),
            # One panel per feature: the alerts look at the largest and the share, this shows which.
            PanelSpec(
                "PSI: $feature",
                ((f'{FEATURE_PSI}{{{SERVING},feature=~"$feature"}}', "{{feature}}"),),
                "short",
                width=6,
                repeat="feature",
            ),
        ),
        (VariableSpec("feature", "Feature", f"label_values({FEATURE_DRIFT.name}{{{SERVING}}}, feature)"),),
    )


def platform_dashboard() -> DashboardSpec:
    """MLflow and PostgreSQL health, training runs (the last three need kube-state-metrics: cluster only)."""
    mlflow = f'job="{Job.MLFLOW}"'
    return DashboardSpec(
        "mlops-platform",
        "MLOps / Platform",
        (
            PanelSpec("MLflow up", ((f"max(up{{{mlflow}}})", "mlflow"),), "short", "stat", 8),
            PanelSpec(
                "MLflow requests by status",
                ((f"sum by (status) (rate(mlflow_http_request_total{{{mlflow}}}[5m]))", "{{status}}"),),
                "reqps",
                "timeseries",
                16,
            ),
            PanelSpec(
                "MLflow 5xx ratio (backend / PostgreSQL errors)",
                (
                    (
                        f'(sum(rate(mlflow_http_request_total{{{mlflow},status=~"5.."}}[5m])) or vector(0))'
                        f" / sum(rate(mlflow_http_request_total{{{mlflow}}}[5m]))",
                        "5xx ratio",
                    ),
                ),
                "percentunit",
            ),
            PanelSpec(
                "PostgreSQL ready replicas",
                (('max(kube_statefulset_status_replicas_ready{statefulset="mlflow-postgres"})', "ready"),),
                "short",
                "stat",
            ),
            PanelSpec(
                "Training Jobs (succeeded / failed)",
                (
                    ('sum(kube_job_status_succeeded{job_name=~"training-.*"})', "succeeded"),
                    ('sum(kube_job_status_failed{job_name=~"training-.*"})', "failed"),
                ),
                "short",
            ),
            PanelSpec(
                "Serving available replicas",
                (('max(kube_deployment_status_replicas_available{deployment="serving"})', "available"),),
                "short",
            ),
        ),
    )


def dashboards() -> tuple[DashboardSpec, ...]:
    """Every provisioned dashboard."""
    return serving_dashboard(), platform_dashboard()


def build(spec: DashboardSpec) -> dict[str, Any]:
    """The dashboard JSON Grafana provisions, via grafana-foundation-sdk."""
    builder = (
        db.Dashboard(spec.title)
        .uid(spec.uid)
        .tags(["mlops-platform"])
        .refresh("30s")
        .time("now-1h", "now")
        .timezone("browser")
    )
    for variable in spec.variables:
        builder = builder.with_variable(
            db.QueryVariable(variable.name)
            .label(variable.label)
            .query(variable.query)
            .datasource(DATASOURCE)
            .multi(True)
            .include_all(True)
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        )
    for panel in spec.panels:
        maker = stat.Panel() if panel.kind == "stat" else timeseries.Panel()
        built = maker.title(panel.title).datasource(DATASOURCE).unit(panel.unit).height(8).span(panel.width)
        if panel.repeat is not None:
            built = built.repeat(panel.repeat).repeat_direction("h")
        for index, (expr, legend) in enumerate(panel.queries):
            built = built.with_target(
                prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(chr(ord("A") + index))
            )
        builder = builder.with_panel(built)
    result: dict[str, Any] = json.loads(JSONEncoder(sort_keys=True, indent=2).encode(builder.build()))
    return result


def panel_queries(dashboard_json: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, expr) of every query in a built dashboard."""
    return [
        (panel["title"], target["expr"])
        for panel in dashboard_json.get("panels", [])
        for target in panel.get("targets", [])
    ]
