"""Training against a real `mlflow server` (SQLite + proxied artifacts): registry, gate, lineage, failures."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from mlops_contract.names import (
    CHALLENGER_ALIAS,
    CHAMPION_ALIAS,
    REFERENCE_PROFILE_ARTIFACT,
    TRAINING_PROFILE_ARTIFACT,
    Tag,
)
from mlops_contract.profile import ReferenceProfile
from training import train as train_module
from training.config import ModelKind, TrainConfig
from training.train import TrainResult, train

pytestmark = pytest.mark.integration


def run_training(uri: str, name: str, **overrides: object) -> TrainResult:
    cfg = TrainConfig(tracking_uri=uri, model_name=name, **overrides)  # type: ignore[arg-type]
    return train(cfg, report=lambda _line: None)


def champion_version(client: MlflowClient, name: str) -> str:
    return str(client.get_model_version_by_alias(name, CHAMPION_ALIAS).version)


def test_gate_promotes_first_and_better_models_and_keeps_the_champion_against_a_worse_one(
    mlflow_server: str, model_name: str
) -> None:
    client = MlflowClient(tracking_uri=mlflow_server)
    stump = {"model": ModelKind.DECISION_TREE, "max_depth": 1}

    started = time.monotonic()
    first = run_training(mlflow_server, model_name, **stump)
    print(
        f"\ntraining time on breast_cancer (first run, incl. registration): {time.monotonic() - started:.1f}s"
    )
    assert first.promoted and first.champion_score is None and "first model" in first.reason
    assert champion_version(client, model_name) == first.model_version

    better = run_training(mlflow_server, model_name)
    assert better.promoted, better.reason
    assert better.champion_version_before == first.model_version
    assert better.candidate_score > (better.champion_score or 0) + 0.005
    assert champion_version(client, model_name) == better.model_version

    worse = run_training(mlflow_server, model_name, **stump)
    assert not worse.promoted
    assert champion_version(client, model_name) == better.model_version
    tags = client.get_model_version(model_name, worse.model_version).tags
    assert tags[Tag.GATE_DECISION] == "rejected"
    assert "does not beat the champion" in tags[Tag.GATE_REASON]
    assert float(tags[Tag.GATE_CHAMPION_SCORE]) == pytest.approx(better.candidate_score, abs=1e-6)
    assert str(client.get_model_version_by_alias(model_name, CHALLENGER_ALIAS).version) == worse.model_version


def test_registered_version_carries_signature_profile_metrics_and_lineage(
    mlflow_server: str, model_name: str
) -> None:
    result = run_training(mlflow_server, model_name, git_commit="abc123")
    client = MlflowClient(tracking_uri=mlflow_server)
    version = client.get_model_version(model_name, result.model_version)

    info = mlflow.models.get_model_info(f"models:/{model_name}/{result.model_version}")
    assert info.signature is not None
    input_names = info.signature.inputs.input_names()
    assert len(input_names) == 30 and "mean radius" in input_names

    mlflow.set_tracking_uri(mlflow_server)
    text = mlflow.artifacts.load_text(f"runs:/{version.run_id}/{REFERENCE_PROFILE_ARTIFACT}")
    profile = ReferenceProfile.from_json(text)
    assert profile.feature_names == input_names
    assert all(abs(sum(f.frequencies) - 1) < 1e-6 for f in profile.features)

    run = client.get_run(version.run_id)
    assert {"accuracy", "precision", "recall", "f1", "roc_auc"} <= set(run.data.metrics)
    assert run.data.params["model"] == "logistic_regression"
    assert run.data.tags[Tag.GIT_COMMIT] == "abc123"
    assert version.tags[Tag.DATASET_DIGEST] == run.data.tags[Tag.DATASET_DIGEST]
    (dataset_input,) = run.inputs.dataset_inputs
    assert dataset_input.dataset.digest == run.data.tags[Tag.DATASET_DIGEST]


def test_a_failure_mid_run_marks_it_failed_and_leaves_the_champion(
    mlflow_server: str, model_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = MlflowClient(tracking_uri=mlflow_server)
    champion = run_training(mlflow_server, model_name, experiment=model_name)

    class Exploding:
        def fit(self, *_args: object) -> Exploding:
            raise RuntimeError("injected failure during fit")

    monkeypatch.setattr(train_module, "build_pipeline", lambda _cfg: Exploding())
    with pytest.raises(RuntimeError, match="injected failure"):
        run_training(mlflow_server, model_name, experiment=model_name)

    experiment = client.get_experiment_by_name(model_name)
    assert experiment is not None
    statuses = [
        r.info.status for r in client.search_runs([experiment.experiment_id], order_by=["start_time ASC"])
    ]
    assert statuses == ["FINISHED", "FAILED"]
    assert champion_version(client, model_name) == champion.model_version


def cli(uri: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    return subprocess.run(
        [sys.executable, "-m", "training", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def bad_csvs(tmp_path: Path) -> dict[str, Path]:
    good = tmp_path / "numeric.csv"
    pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "y": [0, 1, 0, 1]}).to_csv(good, index=False)
    text = tmp_path / "text.csv"
    pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "colour": list("rgbr"), "y": [0, 1, 0, 1]}).to_csv(
        text, index=False
    )
    return {"numeric": good, "text": text}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dataset", "imagenet"], "unknown dataset 'imagenet'"),
        (["--dataset", "{numeric}", "--target-column", "label"], "column 'label' not in numeric.csv"),
        (["--dataset", "{text}", "--target-column", "y"], "non-numeric feature column(s): colour"),
        (["--model", "svm"], "--model: invalid value 'svm'"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(
    mlflow_server: str, bad_csvs: dict[str, Path], args: list[str], message: str
) -> None:
    argv = [a.format(**{k: str(v) for k, v in bad_csvs.items()}) for a in args]
    result = cli(mlflow_server, *argv)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


def test_cli_server_down_fails_fast_naming_the_uri(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    uri = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    result = cli(uri, "--connect-attempts", "3", timeout=60)
    elapsed = time.monotonic() - started
    assert result.returncode == 3
    assert "Traceback" not in result.stderr
    assert f"cannot reach the MLflow tracking server at {uri}" in result.stderr.strip().splitlines()[-1]
    assert elapsed < 30, f"took {elapsed:.1f}s"


def test_cli_success_prints_decision_scores_and_time(mlflow_server: str, model_name: str) -> None:
    result = cli(mlflow_server, "--model-name", model_name)
    assert result.returncode == 0, result.stderr
    assert f"{model_name} v1: PROMOTED to champion" in result.stdout
    assert "candidate f1=" in result.stdout and "champion f1=none" in result.stdout
    assert "trained in" in result.stdout


def test_the_drift_reference_is_recent_traffic_and_validation_keeps_the_training_rows(
    mlflow_server: str, model_name: str, tmp_path: Path
) -> None:
    """With enough logged requests (labelled or not), the profile serving measures drift against describes
    them, while data validation still compares new training data with what the champion was fit on."""
    from sklearn.datasets import load_breast_cancer

    from mlops_contract.inference_log import REQUESTS_DIR, RequestRecord, utc_timestamp
    from training.reference import champion_reference

    frame = load_breast_cancer(as_frame=True).frame.drop(columns="target")
    shifted = frame.head(60).assign(**{"worst texture": frame["worst texture"].head(60) + 100.0})
    (tmp_path / REQUESTS_DIR).mkdir()
    lines = [
        RequestRecord(
            request_id=f"r{i}",
            timestamp=utc_timestamp(),
            model_name=model_name,
            model_version="1",
            features=tuple(shifted.columns),
            inputs=(tuple(row),),
            outputs=(0,),
        ).to_line()
        for i, row in enumerate(shifted.itertuples(index=False))
    ]
    (tmp_path / REQUESTS_DIR / "requests-0001.jsonl").write_text("\n".join(lines) + "\n")

    result = run_training(mlflow_server, model_name, feedback_dir=str(tmp_path), reference_recent_rows=50)
    client = MlflowClient(tracking_uri=mlflow_server)
    version = client.get_model_version(model_name, result.model_version)
    assert version.tags[Tag.REFERENCE_SOURCE] == "recent-traffic" and version.tags[Tag.REFERENCE_ROWS] == "50"
    mlflow.set_tracking_uri(mlflow_server)
    drift = ReferenceProfile.from_json(
        mlflow.artifacts.load_text(f"runs:/{version.run_id}/{REFERENCE_PROFILE_ARTIFACT}")
    )
    trained = ReferenceProfile.from_json(
        mlflow.artifacts.load_text(f"runs:/{version.run_id}/{TRAINING_PROFILE_ARTIFACT}")
    )
    drift_texture = next(f for f in drift.features if f.name == "worst texture")
    trained_texture = next(f for f in trained.features if f.name == "worst texture")
    assert min(drift_texture.edges) > frame["worst texture"].max()  # the shifted rows alone
    assert max(trained_texture.edges) <= frame["worst texture"].max()  # the dataset's
    reference = champion_reference(client, model_name)
    assert reference is not None and reference.profile == trained
