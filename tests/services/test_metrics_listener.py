"""`/metrics` lives on its own listener: the real prometheus_client server the serving process starts, and the
public app without the route."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from mlops_contract.names import SERVING_METRICS_PORT, SERVING_PORT, Env
from services.serving.metrics_server import start_metrics_server
from services.serving.settings import SettingsError, load_settings
from tests.conftest import free_port
from tests.services.conftest import wait_for


def test_the_public_app_has_no_metrics_route(client_factory, loader) -> None:
    client: TestClient = client_factory(loader)
    assert client.get("/metrics").status_code == 404
    assert "/metrics" not in client.get("/openapi.json").text


def test_the_metrics_listener_serves_the_apps_registry(client_factory, loader) -> None:
    client: TestClient = client_factory(loader)
    wait_for(lambda: client.get("/readyz").status_code == 200)
    client.post("/v1/predict", json={"rows": [[5.0, 3.0, 1.5, 0.2]]})
    port = free_port()
    start_metrics_server("127.0.0.1", port, client.app.state.metrics.registry)  # type: ignore[attr-defined]
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    assert "mlops_model_loaded 1.0" in text
    assert "mlops_predictions_total{" in text


def test_metrics_port_defaults_apart_and_must_differ_from_the_public_port() -> None:
    assert load_settings({}).metrics_port == SERVING_METRICS_PORT != SERVING_PORT
    with pytest.raises(SettingsError, match=Env.SERVING_METRICS_PORT.value):
        load_settings({Env.SERVING_PORT: "9000", Env.SERVING_METRICS_PORT: "9000"})
