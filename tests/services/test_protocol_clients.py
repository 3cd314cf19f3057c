"""Unchanged third-party clients against the real server (uvicorn) serving a model training logged to a
real `mlflow server`: MLflow's own scoring client, Triton's V2 HTTP client, and schemathesis over the
per-model OpenAPI document."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from sklearn.datasets import load_breast_cancer

from devloop.mlflow_server import MlflowServerSpec, mlflow_server_process
from tests.conftest import free_port
from tests.services.test_serving_integration import serving_process, train_model

pytestmark = pytest.mark.integration

# Per-operation example budget for schemathesis (fuzzing phase; the coverage and stateful phases add their
# own cases): 10 already gave 5,304 generated cases over all routes against the breast-cancer model.
EXAMPLES = int(os.environ.get("MLOPS_SCHEMATHESIS_EXAMPLES", "25"))


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """This module's own `mlflow server`, with a patient start: on a loaded shared machine it can take minutes."""
    spec = MlflowServerSpec(state_dir=tmp_path_factory.mktemp("mlflow"), port=free_port())
    proc = mlflow_server_process(spec).start()
    try:
        proc.wait_ready(timeout=900)
        yield spec.url
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, mlflow_server: str) -> Iterator[tuple[str, str, str]]:
    """(serving URL, model name, tracking URI) with a trained breast-cancer model loaded."""
    name = f"proto-{uuid.uuid4().hex[:8]}"
    train_model(mlflow_server, name)
    port = free_port()
    proc = serving_process(tmp_path_factory.mktemp("serving"), mlflow_server, name, port)
    proc.start()
    try:
        proc.wait_ready(timeout=600)
        yield f"http://127.0.0.1:{port}", name, mlflow_server
    finally:
        proc.stop()


def frame(n: int) -> pd.DataFrame:
    data = load_breast_cancer(as_frame=True)
    return data.data.iloc[:n]


def v1_predictions(url: str, df: pd.DataFrame) -> list[int]:
    response = httpx.post(f"{url}/v1/predict", json={"rows": df.to_numpy().tolist()}, timeout=10)
    assert response.status_code == 200
    return list(response.json()["predictions"])


def test_mlflow_scoring_client_works_unchanged(served) -> None:
    from mlflow.pyfunc.scoring_server.client import ScoringServerClient

    url, _, _ = served
    port = int(url.rsplit(":", 1)[1])
    client = ScoringServerClient("127.0.0.1", port)
    client.wait_server_ready(timeout=30)
    assert client.get_version()
    df = frame(7)
    shuffled = df[list(reversed(df.columns))]  # the client sends pandas' column order, whatever it is
    result = client.invoke(shuffled)
    assert result.get_predictions(predictions_format="ndarray").tolist() == v1_predictions(url, df)
    # `mlflow models predict`-style CSV, as pandas writes it.
    buffer = io.StringIO()
    df.to_csv(buffer, index=False)
    response = httpx.post(
        f"{url}/invocations", content=buffer.getvalue(), headers={"content-type": "text/csv"}, timeout=10
    )
    assert response.json() == {"predictions": v1_predictions(url, df)}


def test_the_models_logged_serving_input_example_is_accepted(served, tmp_path: Path) -> None:
    url, name, tracking = served
    client = MlflowClient(tracking)
    version = client.get_model_version_by_alias(name, "champion")
    local = client.download_artifacts(version.run_id, "model/serving_input_example.json", str(tmp_path))
    example = json.loads(Path(local).read_text())
    response = httpx.post(f"{url}/invocations", json=example, timeout=10)
    assert response.status_code == 200, response.text
    assert len(response.json()["predictions"]) == len(example["dataframe_split"]["data"])
    doc = httpx.get(f"{url}/openapi.json", timeout=10).json()
    body = doc["paths"]["/invocations"]["post"]["requestBody"]["content"]["application/json"]
    assert body["example"] == example
    record = doc["components"]["schemas"]["ModelRecord"]
    assert record["required"] == [str(c) for c in load_breast_cancer().feature_names]


def test_triton_http_client_works_unchanged(served) -> None:
    import tritonclient.http as triton

    url, name, _ = served
    client = triton.InferenceServerClient(url=url.removeprefix("http://"))
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready(name)
    meta = client.get_model_metadata(name)
    df = frame(5)
    assert [i["name"] for i in meta["inputs"]] == list(df.columns)
    inputs = []
    for column in df.columns:
        tensor = triton.InferInput(column, [len(df)], "FP64")
        tensor.set_data_from_numpy(df[column].to_numpy(dtype=np.float64), binary_data=False)
        inputs.append(tensor)
    outputs = [triton.InferRequestedOutput(n, binary_data=False) for n in ("predict", "predict_proba")]
    result = client.infer(name, inputs, outputs=outputs)
    assert result.as_numpy("predict").tolist() == v1_predictions(url, df)
    proba = result.as_numpy("predict_proba")
    assert proba.shape == (5, 2) and np.allclose(proba.sum(axis=1), 1.0)


def test_schemathesis_finds_no_failures_over_every_route(served, tmp_path: Path) -> None:
    url, _, _ = served
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{url}/openapi.json",
        "--checks",
        "all",
        "--mode",
        "all",
        "--max-examples",
        str(EXAMPLES),
        "--seed",
        "1",
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=3000, check=False)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-6000:]
    # `--checks all` includes not_a_server_error (any 5xx fails the run) and positive_data_acceptance.
    generated = re.search(r"(\d+) generated", out)
    assert generated is not None and int(generated.group(1)) >= 19 * EXAMPLES // 2, out[-2000:]
    print(f"schemathesis: {generated.group(1)} generated cases, 0 failures")
