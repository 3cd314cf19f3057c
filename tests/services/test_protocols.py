"""MLflow scoring, Open Inference Protocol V2 and KServe V1 against the real app and a real sklearn model."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.services.conftest import MemoryLoader, TinyModel, in_distribution_rows, scrape, wait_for

MODEL = "mlops-classifier"  # Settings' default model name


@pytest.fixture
def client(client_factory, loader: MemoryLoader) -> TestClient:
    client: TestClient = client_factory(loader)
    wait_for(lambda: client.get("/readyz").status_code == 200)
    return client


def expected(client: TestClient, rows: list[list[float]]) -> list[Any]:
    response = client.post("/v1/predict", json={"rows": rows})
    assert response.status_code == 200
    return list(response.json()["predictions"])


def records(model: TinyModel, rows: list[list[float]]) -> list[dict[str, float]]:
    return [dict(zip(model.names, row, strict=True)) for row in rows]


def test_invocations_accepts_every_mlflow_json_format_and_agrees_with_v1_predict(client, tiny_model) -> None:
    rows = in_distribution_rows(tiny_model, 6)
    want = expected(client, rows)
    names = list(tiny_model.names)
    reversed_split = {
        "columns": names[::-1],
        "data": [row[::-1] for row in rows],
        "index": list(range(len(rows))),
    }
    bodies = [
        {"dataframe_split": {"columns": names, "data": rows}},
        {"dataframe_split": reversed_split},  # pandas may order columns differently
        {"dataframe_records": records(tiny_model, rows)},
        {"instances": rows},
        {"instances": records(tiny_model, rows)},
        {"inputs": rows},
        {"inputs": {name: [row[j] for row in rows] for j, name in enumerate(names)}},
        {"inputs": rows, "params": {"ignored": 1}},
    ]
    for body in bodies:
        response = client.post("/invocations", json=body)
        assert response.status_code == 200, (body, response.text)
        assert response.json() == {"predictions": want}


def test_invocations_accepts_csv_with_a_header_row(client, tiny_model) -> None:
    rows = in_distribution_rows(tiny_model, 4)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(tiny_model.names)
    writer.writerows(rows)
    response = client.post(
        "/invocations", content=out.getvalue(), headers={"content-type": "text/csv; charset=utf-8"}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": expected(client, rows)}


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"instances": [[1.0, 2.0]]}, "instances.0: expected 4 values"),
        ({"dataframe_records": [{"x": 1.0}]}, "missing feature(s)"),
        ({"dataframe_split": {"columns": ["a", "b", "c", "d"], "data": [[1, 2, 3, 4]]}}, "unknown feature"),
        ({"inputs": [[1, 2, 3, 4]], "instances": [[1, 2, 3, 4]]}, "exactly one of the input fields"),
        ({"inputs": [[1, 2, 3, 4]], "instances": None}, "exactly one of the input fields"),
        ({"inputs": [["a", 2, 3, 4]]}, "inputs"),
        ({"instances": [[1e300, 2, 3, 4]]}, "must be a number between"),
        ({"rows": [[1, 2, 3, 4]]}, "rows"),
    ],
)
def test_invocations_errors_have_mlflow_shape_and_name_the_field(client, body, needle) -> None:
    response = client.post("/invocations", json=body)
    assert response.status_code == 400
    payload = response.json()
    assert set(payload) == {"error_code", "message"} and payload["error_code"] == "BAD_REQUEST"
    assert needle in payload["message"]
    assert "1e+300" not in payload["message"] and "a'" not in payload["message"]


def test_invocations_refuses_other_content_types_like_mlflow(client) -> None:
    # Other media types are refused by admission control before the route (415, JSON detail).
    assert (
        client.post("/invocations", content=b"{}", headers={"content-type": "text/plain"}).status_code == 415
    )
    for content_type in ("application/json; format=pandas-split", "text/csv; charset=latin-1"):
        response = client.post("/invocations", content=b"{}", headers={"content-type": content_type})
        assert response.status_code == 415, content_type
        assert response.headers["content-type"].startswith("text/plain")


def test_mlflow_probes_and_version(client_factory, loader) -> None:
    loader.registry_up = False
    client = client_factory(loader)
    assert client.get("/ping").status_code == 503
    assert client.post("/invocations", json={"inputs": [[1, 2, 3, 4]]}).json()["error_code"] == (
        "TEMPORARILY_UNAVAILABLE"
    )
    loader.registry_up = True
    wait_for(lambda: client.get("/ping").status_code == 200)
    assert client.get("/health").status_code == 200
    assert client.get("/version").status_code == 200 and client.get("/version").text


def test_v2_health_and_metadata_name_the_signature_columns(client, tiny_model) -> None:
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    meta = client.get(f"/v2/models/{MODEL}").json()
    assert meta["name"] == MODEL and meta["versions"] == ["1"]
    assert [i["name"] for i in meta["inputs"]] == list(tiny_model.names)
    assert {(i["datatype"], tuple(i["shape"])) for i in meta["inputs"]} == {("FP64", (-1,))}
    assert meta["outputs"] == [
        {"name": "predict", "datatype": "INT64", "shape": [-1]},
        {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 3]},
    ]
    assert client.get(f"/v2/models/{MODEL}/versions/1").json() == meta
    assert client.get(f"/v2/models/{MODEL}/ready").json() == {"name": MODEL, "ready": True}
    assert client.get(f"/v2/models/{MODEL}/versions/1/ready").status_code == 200
    assert client.get(f"/v2/models/{MODEL}/versions/9/ready").status_code == 404
    assert client.get("/v2/models/other").status_code == 404


def test_v2_infer_returns_predictions_and_probabilities(client, tiny_model) -> None:
    rows = in_distribution_rows(tiny_model, 3)
    v1 = client.post("/v1/predict", json={"rows": rows}).json()
    per_column = {
        "id": "req-1",
        "inputs": [
            {"name": name, "shape": [3], "datatype": "FP64", "data": [row[j] for row in rows]}
            for j, name in enumerate(tiny_model.names)
        ],
    }
    response = client.post(f"/v2/models/{MODEL}/infer", json=per_column)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == "req-1" and body["model_name"] == MODEL and body["model_version"] == "1"
    predict, proba = body["outputs"]
    assert predict == {"name": "predict", "datatype": "INT64", "shape": [3], "data": v1["predictions"]}
    assert proba["shape"] == [3, 3]
    assert proba["data"] == pytest.approx([p for row in v1["probabilities"] for p in row])
    one_tensor = {
        "inputs": [{"name": "input-0", "shape": [3, 4], "datatype": "FP64", "data": rows}],
        "outputs": [{"name": "predict"}],
    }
    response = client.post(f"/v2/models/{MODEL}/versions/1/infer", json=one_tensor)
    assert response.status_code == 200, response.text
    assert [o["name"] for o in response.json()["outputs"]] == ["predict"]


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"shape": [2]}, "does not match"),
        ({"datatype": "FP32"}, "expected FP64"),
        ({"name": "nope"}, "unknown: nope"),
    ],
)
def test_v2_infer_rejects_inconsistent_tensors(client, tiny_model, change, needle) -> None:
    inputs = [{"name": n, "shape": [1], "datatype": "FP64", "data": [1.0]} for n in tiny_model.names]
    inputs[0] = {**inputs[0], **change}
    response = client.post(f"/v2/models/{MODEL}/infer", json={"inputs": inputs})
    assert response.status_code == 400
    assert needle in response.json()["error"]


def test_kserve_v1_predict_and_status(client, tiny_model) -> None:
    rows = in_distribution_rows(tiny_model, 2)
    response = client.post(f"/v1/models/{MODEL}:predict", json={"instances": rows})
    assert response.status_code == 200
    assert response.json() == {"predictions": expected(client, rows)}
    named = client.post(f"/v1/models/{MODEL}:predict", json={"instances": records(tiny_model, rows)})
    assert named.json() == response.json()
    assert client.get(f"/v1/models/{MODEL}").json() == {"name": MODEL, "ready": True}
    bad = client.post(f"/v1/models/{MODEL}:predict", json={"instances": [[1, 2]]})
    assert bad.status_code == 400 and "instances.0" in bad.json()["error"]
    assert client.post("/v1/models/other:predict", json={"instances": rows}).status_code == 404


def test_every_protocol_counts_requests_by_route_template_and_feeds_drift(client, tiny_model) -> None:
    rows = in_distribution_rows(tiny_model, 5)
    client.post("/invocations", json={"inputs": rows})
    client.post(f"/v1/models/{MODEL}:predict", json={"instances": rows})
    inputs = [{"name": "x", "shape": [5, 4], "datatype": "FP64", "data": rows}]
    client.post(f"/v2/models/{MODEL}/infer", json={"inputs": inputs})
    text = scrape(client)
    for route in ("/invocations", "/v1/models/{name}:predict", "/v2/models/{name}/infer"):
        assert f'route="{route}",status="200"' in text, route
    assert "mlops_drift_window_rows 15.0" in text


def test_openapi_describes_the_served_model_and_follows_a_reload(client, loader, tiny_model) -> None:
    doc = client.get("/openapi.json").json()
    row = doc["components"]["schemas"]["ModelRow"]
    assert row["minItems"] == row["maxItems"] == 4
    record = doc["components"]["schemas"]["ModelRecord"]
    assert record["required"] == list(tiny_model.names) and record["additionalProperties"] is False
    predict = doc["paths"]["/v1/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert predict["properties"]["rows"]["anyOf"][0]["maxItems"] == 50  # the test settings' max_batch_rows
    infer = doc["paths"]["/v2/models/{name}/versions/{version}/infer"]["post"]
    assert {p["name"]: p["schema"]["enum"] for p in infer["parameters"]} == {
        "name": [MODEL],
        "version": ["1"],
    }
    loader.alias_version = "2"
    wait_for(lambda: client.get("/v1/model").json()["version"] == "2")
    infer = client.get("/openapi.json").json()["paths"]["/v2/models/{name}/versions/{version}/infer"]["post"]
    assert infer["parameters"][1]["schema"]["enum"] == ["2"]


def test_openapi_offers_the_models_logged_input_example(client_factory, loader, tiny_model) -> None:
    rows = in_distribution_rows(tiny_model, 2)
    loader.input_example = {"dataframe_split": {"columns": list(tiny_model.names), "data": rows}}
    client = client_factory(loader)
    wait_for(lambda: client.get("/readyz").status_code == 200)
    paths = client.get("/openapi.json").json()["paths"]
    invocations = paths["/invocations"]["post"]["requestBody"]["content"]["application/json"]
    assert invocations["example"] == loader.input_example
    assert client.post("/invocations", json=invocations["example"]).status_code == 200
    predict = paths["/v1/predict"]["post"]["requestBody"]["content"]["application/json"]["example"]
    assert predict == {"rows": rows}


def test_openapi_refs_resolve_before_and_after_a_model_loads(client_factory, loader) -> None:
    loader.registry_up = False
    client = client_factory(loader)
    for _ in range(2):
        text = client.get("/openapi.json").text
        doc = json.loads(text)
        for ref in set(re.findall(r'"\$ref": ?"#/components/schemas/([^"]+)"', text)):
            assert ref in doc["components"]["schemas"], ref
        assert "#/$defs/" not in text
        loader.registry_up = True
        wait_for(lambda: client.get("/readyz").status_code == 200)
