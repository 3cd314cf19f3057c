"""Training under bad data, races and a dying registry, against a real `mlflow server` and real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.entities import Run
from sklearn.datasets import load_breast_cancer

from mlops_contract.names import CHAMPION_ALIAS, VALIDATION_REPORT_ARTIFACT, Tag
from training.config import ModelKind, TrainConfig
from training.promotion import lock_name
from training.runs import RUN_DEADLINE_TAG
from training.train import TrainResult, train

from .tcp_proxy import StallableProxy

pytestmark = pytest.mark.integration


def run_training(uri: str, name: str, **overrides: object) -> TrainResult:
    cfg = TrainConfig(tracking_uri=uri, model_name=name, experiment=name, **overrides)  # type: ignore[arg-type]
    return train(cfg, report=lambda _line: None)


def cli(uri: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    return subprocess.run(
        [sys.executable, "-m", "training", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def experiment_runs(client: MlflowClient, name: str) -> list[Run]:
    experiment = client.get_experiment_by_name(name)
    assert experiment is not None
    return list(client.search_runs([experiment.experiment_id]))


def champion_version(client: MlflowClient, name: str) -> str:
    return str(client.get_model_version_by_alias(name, CHAMPION_ALIAS).version)


def breast_cancer_csv(path: Path, corrupt: Callable[[pd.DataFrame], pd.DataFrame]) -> str:
    frame = load_breast_cancer(as_frame=True).frame
    corrupt(frame).to_csv(path, index=False)
    return str(path)


def all_constant(frame: pd.DataFrame) -> pd.DataFrame:
    features = [c for c in frame.columns if c != "target"]
    return frame.assign(**dict.fromkeys(features, 0.0))


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (all_constant, "every feature column is constant"),
        (
            lambda f: f.assign(**{"worst radius": 0.0}),
            "column 'worst radius': constant, but it varied in the champion's training data",
        ),
    ],
    ids=["all-constant", "one-constant"],
)
def test_constant_features_are_refused_before_any_run_and_never_reach_champion(
    mlflow_server: str,
    model_name: str,
    tmp_path: Path,
    corrupt: Callable[[pd.DataFrame], pd.DataFrame],
    message: str,
) -> None:
    client = MlflowClient(tracking_uri=mlflow_server)
    champion = run_training(mlflow_server, model_name)
    runs_before = len(experiment_runs(client, model_name))

    csv = breast_cancer_csv(tmp_path / "corrupt.csv", corrupt)
    result = cli(
        mlflow_server,
        "--model-name",
        model_name,
        "--experiment",
        model_name,
        "--dataset",
        csv,
        "--target-column",
        "target",
    )

    assert result.returncode == 2, result.stdout + result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "data validation failed (standard)" in line and message in line
    assert champion_version(client, model_name) == champion.model_version
    assert len(experiment_runs(client, model_name)) == runs_before
    assert len(client.search_model_versions(f"name = '{model_name}'")) == 1


def near_constant(frame: pd.DataFrame) -> pd.DataFrame:
    """Every feature 0 except one row: it passes standard validation (warnings) yet carries no signal."""
    out = all_constant(frame)
    features = [c for c in frame.columns if c != "target"]
    out.loc[0, features] = 1.0
    return out


def test_near_constant_data_trains_but_the_baseline_keeps_it_from_champion(
    mlflow_server: str, model_name: str, tmp_path: Path
) -> None:
    client = MlflowClient(tracking_uri=mlflow_server)
    champion = run_training(mlflow_server, model_name)
    csv = breast_cancer_csv(tmp_path / "flat.csv", near_constant)

    degenerate = run_training(mlflow_server, model_name, dataset=csv, target_column="target")

    assert not degenerate.promoted, degenerate.reason
    assert "does not beat the trivial baseline's 0.7725" in degenerate.reason
    assert champion_version(client, model_name) == champion.model_version
    tags = client.get_model_version(model_name, degenerate.model_version).tags
    assert tags[Tag.GATE_DECISION] == "rejected"
    assert float(tags[Tag.GATE_BASELINE_SCORE]) == pytest.approx(0.7725, abs=1e-3)
    assert tags[Tag.GATE_CHAMPION_VERSION] == champion.model_version
    run = client.get_run(degenerate.run_id)
    assert run.data.tags[Tag.VALIDATION_STATUS] == "passed_with_warnings"
    assert run.data.metrics["validation_findings"] >= 30
    mlflow.set_tracking_uri(mlflow_server)
    report = mlflow.artifacts.load_dict(f"runs:/{degenerate.run_id}/{VALIDATION_REPORT_ARTIFACT}")
    assert {f["check"] for f in report["findings"]} >= {"near_constant", "shift"}
    assert report["reference_version"] == champion.model_version


def test_label_flipped_data_is_caught_on_the_trusted_holdout(
    mlflow_server: str, model_name: str, tmp_path: Path
) -> None:
    """A broken join that inverts labels scores 0.98 on its own holdout, where the champion scores ~0."""
    client = MlflowClient(tracking_uri=mlflow_server)
    champion = run_training(mlflow_server, model_name)
    csv = breast_cancer_csv(tmp_path / "flipped.csv", lambda f: f.assign(target=1 - f["target"]))

    flipped = run_training(
        mlflow_server, model_name, dataset=csv, target_column="target", eval_dataset="breast_cancer"
    )

    assert flipped.candidate_score > 0.9 and (flipped.champion_score or 0) < 0.2  # fooled the old gate
    assert not flipped.promoted
    assert "on the trusted holdout" in flipped.reason
    assert champion_version(client, model_name) == champion.model_version
    tags = client.get_model_version(model_name, flipped.model_version).tags
    assert float(tags[Tag.GATE_TRUSTED_CHAMPION_SCORE]) > 0.95
    assert float(tags[Tag.GATE_TRUSTED_CANDIDATE_SCORE]) < 0.2


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (
            pd.DataFrame(
                {"a": np.linspace(0, 1, 40), "b": [*np.linspace(0, 1, 39), np.inf], "y": [0, 1] * 20}
            ),
            "column 'b': 1 non-finite value(s) (inf or NaN)",
        ),
        (
            pd.DataFrame({"a": np.linspace(0, 1, 40), "y": [0] * 36 + [1] * 4}),
            "target column 'y': fewer than 10 rows for class(es) 1: 4",
        ),
    ],
    ids=["inf", "too-few-rows"],
)
def test_inf_and_too_few_rows_are_refused_before_the_run_naming_the_column(
    mlflow_server: str, model_name: str, tmp_path: Path, frame: pd.DataFrame, message: str
) -> None:
    csv = tmp_path / "bad.csv"
    frame.to_csv(csv, index=False)
    result = cli(
        mlflow_server,
        "--model-name",
        model_name,
        "--experiment",
        model_name,
        "--dataset",
        str(csv),
        "--target-column",
        "y",
    )
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert message in line
    assert MlflowClient(tracking_uri=mlflow_server).get_experiment_by_name(model_name) is None


def test_an_expired_promotion_lock_of_a_dead_training_is_broken(mlflow_server: str, model_name: str) -> None:
    client = MlflowClient(tracking_uri=mlflow_server)
    client.create_registered_model(
        lock_name(model_name),
        tags={Tag.PROMOTION_LOCK_OWNER: "dead-pod/1/x", Tag.PROMOTION_LOCK_EXPIRES: f"{time.time() - 1:.3f}"},
    )
    result = run_training(mlflow_server, model_name, lock_wait_seconds=30)
    assert result.promoted
    assert not client.search_registered_models(f"name = '{lock_name(model_name)}'")


def test_a_live_promotion_lock_makes_training_wait_then_fail_without_promoting(
    mlflow_server: str, model_name: str
) -> None:
    client = MlflowClient(tracking_uri=mlflow_server)
    client.create_registered_model(
        lock_name(model_name),
        tags={Tag.PROMOTION_LOCK_OWNER: "busy/1/x", Tag.PROMOTION_LOCK_EXPIRES: f"{time.time() + 600:.3f}"},
    )
    result = cli(mlflow_server, "--model-name", model_name, "--experiment", model_name, "--lock-wait", "3")
    assert result.returncode == 1
    assert "the promotion lock of" in result.stderr
    (version,) = client.search_model_versions(f"name = '{model_name}'")
    assert version.tags[Tag.GATE_DECISION] == "failed"
    assert not version.aliases
    (run,) = experiment_runs(client, model_name)
    assert run.info.status == "FAILED"


# Three trainings race each round: two weaker candidates and the best one, all against the same first champion.
RACERS = (
    ("--model", "decision_tree", "--max-depth", "2"),
    ("--model", "decision_tree", "--max-depth", "3"),
    (),  # logistic regression: the best of the three
)


@pytest.mark.timeout(1800)
def test_parallel_trainings_always_leave_the_best_model_as_champion(
    mlflow_server: str, model_name: str
) -> None:
    rounds = int(os.environ.get("MLOPS_RACE_ROUNDS", "3"))
    client = MlflowClient(tracking_uri=mlflow_server)
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_server}
    for round_no in range(rounds):
        name = f"{model_name}-race{round_no}"
        run_training(mlflow_server, name, model=ModelKind.DECISION_TREE, max_depth=1)  # a weak first champion
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "training", "--model-name", name, "--experiment", name, *args],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for args in RACERS
        ]
        outputs = [p.communicate(timeout=600)[0] for p in procs]
        assert all(p.returncode == 0 for p in procs), outputs
        best_version = next(
            line.split(" v")[1].split(":")[0]
            for line in outputs[-1].splitlines()
            if line.startswith(f"{name} v")
        )
        assert champion_version(client, name) == best_version, f"round {round_no}:\n" + "\n".join(outputs)
        assert not client.search_registered_models(f"name = '{lock_name(name)}'")
        print(f"\nround {round_no + 1}/{rounds}: the best model (v{best_version}) is champion")


# Per-call timeout of the stalled training: short, yet long enough for a busy machine before the stall.
STALL_TIMEOUT = 10


@pytest.mark.timeout(900)
def test_mlflow_stalling_mid_run_fails_fast_and_leaves_no_promotable_version(
    mlflow_server: str, model_name: str
) -> None:
    direct = MlflowClient(tracking_uri=mlflow_server)
    target = urlparse(mlflow_server)
    with StallableProxy(target.hostname or "127.0.0.1", target.port or 80) as proxy:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "training",
                "--model-name",
                model_name,
                "--experiment",
                model_name,
                "--request-timeout",
                str(STALL_TIMEOUT),
                "--request-retries",
                "1",
                "--max-run-seconds",
                "60",
            ],
            env={**os.environ, "MLFLOW_TRACKING_URI": proxy.url},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        # Stall once the version is registered: the worst moment (an orphan version, the gate not yet run).
        deadline = time.monotonic() + 300
        while not direct.search_model_versions(f"name = '{model_name}'"):
            assert proc.poll() is None and time.monotonic() < deadline, "training ended before registering"
            time.sleep(0.05)
        proxy.stall()
        stalled_at = time.monotonic()
        _, stderr = proc.communicate(timeout=120)
        exit_seconds = time.monotonic() - stalled_at
        print(f"\ntraining exited {exit_seconds:.1f}s after MLflow stalled (exit {proc.returncode})")
        assert proc.returncode == 1, stderr
        assert "Traceback" not in stderr
        # Three calls fail after the stall (lock, version tag, end run), each bounded by timeout x (retries + 1).
        assert exit_seconds < 3 * STALL_TIMEOUT * 2 + 30

        # MLflow is back: nothing from the dead run is promotable, and the next training finishes its cleanup.
        proxy.resume()
        (orphan,) = direct.search_model_versions(f"name = '{model_name}'")
        assert orphan.tags[Tag.GATE_DECISION] in {"pending", "failed"}
        assert not orphan.aliases and orphan.run_id
        orphan_run = orphan.run_id
        # The dead run is RUNNING until its deadline passes; then the next training sweeps it.
        run_deadline = float(direct.get_run(orphan_run).data.tags[RUN_DEADLINE_TAG])
        time.sleep(max(0.0, run_deadline - time.time() + 1))
        next_run = run_training(proxy.url, model_name)
        assert next_run.promoted
        orphan = direct.get_model_version(model_name, orphan.version)
        assert orphan.tags[Tag.GATE_DECISION] == "failed"
        assert direct.get_run(orphan_run).info.status == "FAILED"
        assert champion_version(direct, model_name) == next_run.model_version
