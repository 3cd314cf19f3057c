"""The serving app with a real sklearn model and an in-memory loader: probes, predict, reload, errors."""

from __future__ import annotations

import json
import time

from fastapi.testclient import TestClient

from mlops_contract import metrics as contract
from tests.services.conftest import in_distribution_rows, scrape, wait_for


def ready(client: TestClient) -> bool:
    return client.get("/readyz").status_code == 200


def test_registry_down_at_startup_is_alive_but_not_ready_then_ready_when_it_returns(
    client_factory, loader
) -> None:
    loader.registry_up = False
    client = client_factory(loader)
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 503
    response = client.post("/v1/predict", json={"rows": [[1, 2, 3, 4]]})
    assert response.status_code == 503 and response.json()["detail"] == "no model loaded yet"
    assert client.get("/v1/model").status_code == 503
    loader.registry_up = True
    wait_for(lambda: ready(client))
    assert client.get("/v1/model").json()["version"] == "1"


def test_predict_positional_and_named_rows_agree(client_factory, loader, tiny_model) -> None:
    client = client_factory(loader)
    wait_for(lambda: ready(client))
    rows = in_distribution_rows(tiny_model, 5)
    positional = client.post("/v1/predict", json={"rows": rows}).json()
    named = client.post(
        "/v1/predict", json={"rows": [dict(zip(tiny_model.names, r, strict=True)) for r in rows]}
    )
    assert named.status_code == 200
    assert positional == named.json()
    assert positional["model_version"] == "1"
    assert positional["classes"] == [0, 1, 2]
    assert len(positional["predictions"]) == 5 and None not in positional["predictions"]
    for probs, label in zip(positional["probabilities"], positional["predictions"], strict=True):
        assert abs(sum(probs) - 1) < 1e-9
        assert probs.index(max(probs)) == label


def test_alias_moved_serves_the_new_version_without_restart(client_factory, loader) -> None:
    client = client_factory(loader)
    wait_for(lambda: ready(client))
    loader.alias_version = "2"
    wait_for(lambda: client.get("/v1/model").json()["version"] == "2")
    assert client.post("/v1/predict", json={"rows": [[5.0, 3.0, 1.5, 0.2]]}).json()["model_version"] == "2"


def test_broken_new_version_keeps_the_old_one_counts_and_is_not_fetched_every_poll(
    client_factory, loader
) -> None:
    client = client_factory(loader)
    wait_for(lambda: ready(client))
    loader.broken_versions.add("2")
    loader.alias_version = "2"
    wait_for(lambda: loader.loads.count("2") >= 1)
    time.sleep(0.5)  # ten reload intervals: the broken version is remembered, not downloaded again
    assert loader.loads.count("2") == 1
    assert client.get("/v1/model").json()["version"] == "1"
    assert client.post("/v1/predict", json={"rows": [[5.0, 3.0, 1.5, 0.2]]}).json()["model_version"] == "1"
    failures = [
        line for line in scrape(client).splitlines() if line.startswith("mlops_model_reload_failures_total")
    ]
    assert float(failures[0].split()[-1]) == 1
    loader.alias_version = "3"  # the alias moves on: the next version loads at once
    wait_for(lambda: client.get("/v1/model").json()["version"] == "3")


def test_invalid_rows_get_422_naming_the_field_without_echoing_values(client_factory, loader) -> None:
    client = client_factory(loader)
    wait_for(lambda: ready(client))
    marker = "SECRET-MARKER-1234"
    cases = [
        ({"rows": [[1, 2, 3]]}, ["body", "rows", 0], "expected 4 values"),
        ({"rows": [[1, 2, marker, 4]]}, ["body", "rows", 0, 2], "valid number"),
        ({"rows": [{"petal width (cm)": 1, marker: 2}]}, ["body", "rows", 0], "missing feature"),
        ({"rows": []}, ["body", "rows"], "at least 1"),
        ({"rows": [[1, 2, 3, 4]], marker: 1}, ["body", marker], "Extra inputs"),
        ({"rows": [[True, 2, 3, 4]]}, ["body", "rows", 0, 0], "valid number"),
        ({"rows": [[1, 2, 3, 4]] * 51}, ["body", "rows"], "at most 50 rows"),
    ]
    for payload, loc, message in cases:
        response = client.post("/v1/predict", json=payload)
        assert response.status_code == 422, payload
        first = response.json()["detail"][0]
        assert first["loc"] == loc and message in first["msg"], response.json()
        if marker in json.dumps(payload["rows"] if "rows" in payload else []) and "feature" not in message:
            # Values are never echoed; an unknown *key* is named, because naming the field is the point.
            assert marker not in response.text


def test_non_finite_and_malformed_json_are_422(client_factory, loader) -> None:
    client = client_factory(loader)
    wait_for(lambda: ready(client))
    headers = {"content-type": "application/json"}
    for body in (
        b'{"rows": [[NaN, 1, 2, 3]]}',
        b'{"rows": [[Infinity, 1, 2, 3]]}',
        b'{"rows": [[1, 2',
        b"null",
    ):
        response = client.post("/v1/predict", content=body, headers=headers)
        assert response.status_code == 422, body
        assert "NaN" not in response.text and "Infinity" not in response.text


def test_oversized_body_is_refused_before_parsing(client_factory, loader) -> None:
    client = client_factory(loader)
    wait_for(lambda: ready(client))
    response = client.post("/v1/predict", content=b'{"rows": [' + b"[1,2,3,4]," * 1000 + b"[1,2,3,4]]}")
    assert response.status_code == 413
    assert "4096 bytes" in response.json()["detail"]


def test_metrics_expose_every_contract_family_after_traffic(client_factory, loader, tiny_model) -> None:
    client = client_factory(loader)
    wait_for(lambda: ready(client))
    client.post("/v1/predict", json={"rows": in_distribution_rows(tiny_model, 20)})
    client.post("/v1/predict", json={"rows": [[1, 2]]})
    text = scrape(client)
    exported = {
        line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")
    }
    assert contract.exported_series() <= exported, contract.exported_series() - exported
    assert (
        'mlops_model_info{model_alias="champion",model_name="mlops-classifier",model_version="1",run_id="run-1"} 1.0'
        in text
    )
    assert 'mlops_http_requests_total{method="POST",route="/v1/predict",status="422"} 1.0' in text
    age = next(line for line in text.splitlines() if line.startswith("mlops_model_age_seconds "))
    assert 3500 < float(age.split()[-1]) < 3700


def test_unknown_paths_share_one_metrics_label(client_factory, loader) -> None:
    client = client_factory(loader)
    for i in range(5):
        client.get(f"/scan/{i}")
    text = scrape(client)
    assert 'route="other",status="404"} 5.0' in text
    assert "/scan/" not in text


def test_request_id_is_propagated_or_generated(client_factory, loader) -> None:
    client = client_factory(loader)
    assert client.get("/healthz", headers={"x-request-id": "abc-123"}).headers["x-request-id"] == "abc-123"
    assert len(client.get("/healthz").headers["x-request-id"]) == 32


def test_drift_low_in_distribution_high_when_shifted(client_factory, loader, tiny_model) -> None:
    def score(client: TestClient) -> float:
        line = next(x for x in scrape(client).splitlines() if x.startswith("mlops_drift_score "))
        return float(line.split()[-1])

    client = client_factory(loader)
    wait_for(lambda: ready(client))
    client.post("/v1/predict", json={"rows": in_distribution_rows(tiny_model, 50, seed=1)})
    client.post("/v1/predict", json={"rows": in_distribution_rows(tiny_model, 50, seed=2)})
    calm = score(client)
    shifted = [[v * 1.8 + 1.0 for v in row] for row in in_distribution_rows(tiny_model, 50, seed=3)]
    for _ in range(4):
        client.post("/v1/predict", json={"rows": shifted})
    assert calm < 0.25 < score(client), (calm, score(client))
    features = [x for x in scrape(client).splitlines() if x.startswith("mlops_feature_drift_psi{")]
    assert len(features) == len(tiny_model.names)


def test_openapi_documents_the_predict_contract(client_factory, loader) -> None:
    schema = client_factory(loader).get("/openapi.json").json()
    assert {"/healthz", "/readyz", "/v1/predict", "/v1/model"} <= set(schema["paths"])
    assert "422" in schema["paths"]["/v1/predict"]["post"]["responses"]
    json.dumps(schema)
