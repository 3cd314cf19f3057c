"""Fill an MLflow server with runs, registered versions and aliases, and read that state back as plain JSON.

The script runs under any MLflow release's interpreter (the older one in its own virtualenv too), using
only client calls both MLflow 2 and 3 have, so "the same state before and after" compares like with like.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.models import infer_signature
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlops_contract.names import DEFAULT_EXPERIMENT

MODEL_NAME = "mlops-classifier"
EXPERIMENT = DEFAULT_EXPERIMENT

SCRIPT = r"""
import json, sys
from mlflow import MlflowClient

mode, uri = sys.argv[1], sys.argv[2]
client = MlflowClient(tracking_uri=uri)
if mode == "fill":
    model_dir, name, experiment = sys.argv[3], sys.argv[4], sys.argv[5]
    # The platform's experiment and model, as training uses them (the identities Job may have created both:
    # serving's user can read only those).
    found = client.get_experiment_by_name(experiment)
    exp = found.experiment_id if found is not None else client.create_experiment(experiment)
    runs = []
    for i in range(3):
        run = client.create_run(exp, run_name=f"run-{i}", tags={"purpose": "day2"})
        client.log_param(run.info.run_id, "C", str(0.5 * (i + 1)))
        for step in range(3):
            client.log_metric(run.info.run_id, "f1", 0.8 + 0.05 * i + 0.001 * step, step=step)
        if i > 0:
            client.log_artifacts(run.info.run_id, model_dir, "model")
        client.set_terminated(run.info.run_id)
        runs.append(run)
    if not client.search_registered_models(f"name='{name}'"):
        client.create_registered_model(name, description="day-2 test model")
    for run in runs[1:]:
        client.create_model_version(name, f"{run.info.artifact_uri}/model", run.info.run_id)
    client.set_registered_model_alias(name, "champion", "2")
    client.set_registered_model_alias(name, "challenger", "1")
elif mode == "snapshot":
    state = {"runs": {}, "versions": {}, "aliases": {}}
    for exp in client.search_experiments():
        for run in client.search_runs([exp.experiment_id]):
            history = client.get_metric_history(run.info.run_id, "f1")
            state["runs"][run.info.run_id] = {
                "experiment": exp.name,
                "name": run.info.run_name,
                "status": run.info.status,
                "params": run.data.params,
                "tags": {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")},
                "f1": sorted((m.step, m.value) for m in history),
            }
    for model in client.search_registered_models():
        state["aliases"][model.name] = dict(sorted(model.aliases.items()))
        for version in client.search_model_versions(f"name='{model.name}'"):
            state["versions"][f"{model.name}/{version.version}"] = {
                "run_id": version.run_id,
                "source": version.source,
            }
    print(json.dumps(state, sort_keys=True))
"""


def model_dir(path: Path) -> tuple[Path, list[list[float]]]:
    """A small real model saved by the current MLflow (skops, as serving loads it) and some input rows."""
    data = load_breast_cancer(as_frame=True)
    features: pd.DataFrame = data.data
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(features, data.target)
    mlflow.sklearn.save_model(model, str(path), signature=infer_signature(features, model.predict(features)))
    return path, features.iloc[:3].to_numpy().tolist()


def registry(
    python: Path | str, mode: str, uri: str, *extra: str, auth: tuple[str, str] | None = None
) -> Any:
    """Run the script with `python` (fill or snapshot); the snapshot as parsed JSON."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    # Artifact calls resolve mlflow-artifacts: URIs against the global tracking URI, not the client's.
    env["MLFLOW_TRACKING_URI"] = uri
    if auth is not None:
        env["MLFLOW_TRACKING_USERNAME"], env["MLFLOW_TRACKING_PASSWORD"] = auth
    done = subprocess.run(
        [str(python), "-c", SCRIPT, mode, uri, *extra],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1]) if mode == "snapshot" else None
