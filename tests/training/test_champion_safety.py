"""Training scores the champion without unpickling it: a pickle champion is refused, its code never runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import mlflow.sklearn
import pytest
from mlflow import MlflowClient
from sklearn.base import BaseEstimator
from sklearn.dummy import DummyClassifier

from mlops_contract.names import CHAMPION_ALIAS, Tag
from training.config import TrainConfig
from training.train import train

# Generous: on a loaded shared machine the MLflow server alone took 280 s to start.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]


def plant_marker(marker: str) -> DummyClassifier:
    """What unpickling the booby-trapped model runs (any code could be here)."""
    Path(marker).write_text("unpickled")
    return DummyClassifier()


class BoobyTrapped(BaseEstimator):  # type: ignore[misc]
    """Pickles to a call of plant_marker: loading it with pickle writes the marker file."""

    def __init__(self, marker: str = "") -> None:
        self.marker = marker

    def predict(self, x: Any) -> Any:
        return [0] * len(x)

    def __reduce__(self) -> tuple[Any, ...]:
        return (plant_marker, (self.marker,))


def test_a_pickle_champion_is_refused_with_the_reason_and_never_unpickled(
    mlflow_server: str, model_name: str, tmp_path: Path
) -> None:
    client = MlflowClient(tracking_uri=mlflow_server)
    marker = tmp_path / "unpickled"
    mlflow.set_tracking_uri(mlflow_server)
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            BoobyTrapped(str(marker)),
            name="model",
            serialization_format="cloudpickle",
            registered_model_name=model_name,
        )
    assert not marker.exists()  # pickling does not run it; only loading would
    client.set_registered_model_alias(model_name, CHAMPION_ALIAS, info.registered_model_version)

    result = train(TrainConfig(tracking_uri=mlflow_server, model_name=model_name), report=lambda _l: None)

    assert not marker.exists(), "training unpickled the champion"
    assert not result.promoted
    assert "champion refused, not loaded" in result.reason
    assert "serialization_format is 'cloudpickle'" in result.reason
    assert str(client.get_model_version_by_alias(model_name, CHAMPION_ALIAS).version) == str(
        info.registered_model_version
    )
    tags = client.get_model_version(model_name, result.model_version).tags
    assert "never pickle" in tags[Tag.GATE_REASON]


def test_a_skops_champion_is_scored_through_the_allow_list(mlflow_server: str, model_name: str) -> None:
    config = TrainConfig(tracking_uri=mlflow_server, model_name=model_name)
    first = train(config, report=lambda _l: None)
    second = train(config, report=lambda _l: None)
    assert first.promoted
    assert second.champion_version_before == first.model_version
    assert second.champion_score is not None and second.champion_score > 0.9
