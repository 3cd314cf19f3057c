"""Dashboards: built by grafana-foundation-sdk, every query uses known series through the provisioned
datasource, and every serving metric in the contract appears on the serving dashboard."""

from __future__ import annotations

from mlops_contract.metrics import ALL, exported_series
from monitoring.dashboards import DATASOURCE_UID, build, dashboards, panel_queries, serving_dashboard
from monitoring.promql import bare_metric_names, metric_names
from monitoring.recording import FEATURE_PSI, recorded_series
from monitoring.sources import known_series


def test_dashboards_build_to_grafana_json() -> None:
    built = [build(spec) for spec in dashboards()]
    assert [d["uid"] for d in built] == ["mlops-serving", "mlops-platform"]
    for dashboard in built:
        assert dashboard["panels"], dashboard["uid"]
        for panel in dashboard["panels"]:
            assert panel["datasource"] == {"type": "prometheus", "uid": DATASOURCE_UID}
            assert panel["targets"], panel["title"]
            assert panel["gridPos"]["w"] > 0


def test_every_query_uses_known_series() -> None:
    for spec in dashboards():
        for title, expr in panel_queries(build(spec)):
            assert bare_metric_names(expr) == set(), title
            names = metric_names(expr)
            known = known_series() | recorded_series()
            assert names and names <= known, f"{title}: {names - known}"
            assert all(n in exported_series() for n in names if n.startswith("mlops_")), title


def test_serving_dashboard_covers_the_metrics_contract() -> None:
    used = {n for _, expr in panel_queries(build(serving_dashboard())) for n in metric_names(expr)}
    # Every family is on the dashboard except the drift window size (an alert guard, not a signal to watch).
    missing = {spec.name for spec in ALL if not any(s in used for s in spec.series())}
    assert missing == {"mlops_drift_window_rows"}


def test_serving_dashboard_repeats_a_psi_panel_per_feature() -> None:
    built = build(serving_dashboard())
    variables = {v["name"]: v for v in built["templating"]["list"]}
    assert "label_values(mlops_feature_drift_psi" in str(variables["feature"]["query"])
    repeated = [p for p in built["panels"] if p.get("repeat") == "feature"]
    assert len(repeated) == 1
    assert "$feature" in repeated[0]["title"]
    assert FEATURE_PSI in repeated[0]["targets"][0]["expr"]
