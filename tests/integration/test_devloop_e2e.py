"""End to end through the local dev loop (the same code and settings names as the cluster), no mocks:

train -> registered + champion -> serving ready -> predictions -> Prometheus scrapes them (every dashboard
panel that needs no cluster returns data) -> retrain with a better config -> alias moves -> serving reloads
without restart -> a worse config does not move it -> shifted inputs -> the drift alert fires -> Alertmanager
calls the retrain trigger exactly once -> that retraining runs and the gate decides.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from mlflow import MlflowClient
from sklearn.datasets import load_breast_cancer

from devloop.config import DevLoopConfig
from devloop.local_platform import LocalPlatform
from devloop.monitoring_stack import alertmanager_binary, prometheus_binary
from mlops_contract.names import CHAMPION_ALIAS, Route
from monitoring.dashboards import build, dashboards, panel_queries
from monitoring.promql import metric_names
from monitoring.sources import KUBE_STATE_SERIES
from tests.integration.devloop_support import local_config

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(600),
    pytest.mark.skipif(
        prometheus_binary() is None or alertmanager_binary() is None,
        reason="Prometheus/Alertmanager not installed (scripts/setup.sh system)",
    ),
]

WEAK = ("--model", "decision_tree", "--max-depth", "1")


def wait_until(check: Callable[[], Any], timeout: float, what: str, interval: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except httpx.HTTPError as exc:
            last = exc
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def promql(cfg: DevLoopConfig, query: str) -> list[dict[str, Any]]:
    body = httpx.get(f"{cfg.prometheus_url}/api/v1/query", params={"query": query}, timeout=10).json()
    assert body["status"] == "success", body
    return list(body["data"]["result"])


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[LocalPlatform]:
    cfg = local_config(tmp_path)
    lines: list[str] = []
    local = LocalPlatform(cfg, report=lines.append)
    try:
        yield local
    finally:
        local.stop()
        print("\n".join(lines[-60:]))


def test_local_platform_end_to_end(platform: LocalPlatform) -> None:
    cfg = platform.cfg
    started = time.monotonic()
    platform.preflight()
    platform.start_mlflow()
    serving = platform.start_serving()
    platform.train(WEAK)  # a deliberately weak first champion, so a better one can beat it
    platform._wait(serving, timeout=120)
    print(f"weak champion served after {time.monotonic() - started:.1f}s")
    platform.start_monitoring()
    client = MlflowClient(tracking_uri=cfg.mlflow_url)
    assert client.get_model_version_by_alias(cfg.model_name, CHAMPION_ALIAS).version == "1"

    # Traffic spread over a few scrapes (rates need an increase between two samples).
    wait_until(lambda: promql(cfg, 'up{job="serving"} == 1'), 60, "serving scraped")
    wait_until(lambda: promql(cfg, 'up{job="mlflow"} == 1'), 60, "mlflow scraped")
    data = load_breast_cancer().data
    predict = f"{cfg.serving_url}{Route.PREDICT}"
    for start in range(0, 400, 50):
        response = httpx.post(predict, json={"rows": data[start : start + 50].tolist()}, timeout=10)
        assert response.status_code == 200 and response.json()["model_version"] == "1"
        httpx.post(predict, json={"rows": [[1.0]]}, timeout=10)  # a 422, so status labels vary
        time.sleep(1.5)

    # Every panel that needs no cluster returns data.
    wait_until(lambda: promql(cfg, "rate(mlops_predictions_total[1m]) > 0"), 60, "prediction rate")
    for spec in dashboards():
        for title, expr in panel_queries(build(spec)):
            if metric_names(expr) & KUBE_STATE_SERIES:
                continue  # kube-state-metrics exists only in a cluster
            # A dashboard variable ($feature) as Grafana expands "All": every value.
            expr = re.sub(r"\$\w+", ".+", expr)
            wait_until(lambda expr=expr: promql(cfg, expr), 60, f"data for panel {title!r}: {expr}")

    # A better config moves the alias; serving reloads it without a restart.
    pid = serving.pid
    platform.train()
    assert client.get_model_version_by_alias(cfg.model_name, CHAMPION_ALIAS).version == "2"
    wait_until(
        lambda: httpx.get(f"{cfg.serving_url}{Route.MODEL}", timeout=5).json()["version"] == "2",
        60,
        "serving to reload version 2",
    )
    assert serving.pid == pid and serving.running()

    # A worse one is registered but does not move it.
    platform.train(WEAK)
    assert client.get_model_version_by_alias(cfg.model_name, CHAMPION_ALIAS).version == "2"
    assert len(client.search_model_versions(f"name='{cfg.model_name}'")) == 3

    # One shifted feature fills the drift window (the case a mean over all features hid): the feature-level
    # alert fires (not the dataset-level one, which needs half the features), the trigger starts exactly one
    # retraining.
    # Every fifth row: a sample of the whole dataset (the first rows are mostly one class, which would shift
    # many features at once).
    shifted_rows = np.array(data[::5][:100], dtype=float)
    shifted_rows[:, 0] = shifted_rows[:, 0] * 3.0 + np.std(data[:, 0])
    shifted = shifted_rows.tolist()
    for _ in range(12):
        assert httpx.post(predict, json={"rows": shifted}, timeout=10).status_code == 200
    wait_until(
        lambda: promql(cfg, 'ALERTS{alertname="FeatureDrift",alertstate="firing"}'),
        150,
        "FeatureDrift to fire",
        interval=2,
    )
    trigger = f"http://{cfg.host}:{cfg.trigger_port}{Route.METRICS}"
    wait_until(
        lambda: 'mlops_retrains_triggered_total{alertname="FeatureDrift"} 1.0' in httpx.get(trigger).text,
        60,
        "the retrain trigger to be called",
    )
    # The drift-triggered retraining really runs: a fourth version is registered, and the gate decides.
    wait_until(
        lambda: len(client.search_model_versions(f"name='{cfg.model_name}'")) == 4,
        120,
        "the drift retraining to register a version",
        interval=2,
    )
    # Alertmanager keeps the alert firing for a while: still exactly one retraining.
    time.sleep(15)
    metrics = httpx.get(trigger).text
    assert 'mlops_retrains_triggered_total{alertname="FeatureDrift"} 1.0' in metrics
    assert len(client.search_model_versions(f"name='{cfg.model_name}'")) == 4
    platform.check_alive()
