"""Training on versioned data and labelled traffic against a real `mlflow server`: lineage and the gate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from mlops_contract.inference_log import (
    FEEDBACK_DIR,
    REQUESTS_DIR,
    FeedbackRecord,
    RequestRecord,
    utc_timestamp,
)
from mlops_contract.names import CHAMPION_ALIAS, Tag
from services.serving.loader import MlflowLoader
from services.serving.registry import Connection
from training.config import TrainConfig
from training.sources import snapshot_name
from training.train import TrainResult, train

pytestmark = pytest.mark.integration

CLASSES = np.array(["bird", "cat", "dog"])


def world(n: int, seed: int, shifted: bool) -> pd.DataFrame:
    """Three string classes from two features; after the shift, `a` moves and the labels follow `b`."""
    rng = np.random.default_rng(seed)
    a = rng.normal(loc=2.0 if shifted else 0.0, size=n)
    b = rng.normal(size=n)
    driver = b if shifted else a - (2.0 if shifted else 0.0)
    label = CLASSES[np.digitize(driver, [-0.5, 0.5])]
    return pd.DataFrame({"a": a, "b": b, "species": label})


def write_log(root: Path, frame: pd.DataFrame, batch: int = 5) -> None:
    """Logged requests of `batch` rows each, with feedback, as serving writes them."""
    (root / REQUESTS_DIR).mkdir(parents=True)
    (root / FEEDBACK_DIR).mkdir(parents=True)
    now = datetime.now(UTC)
    with (
        (root / REQUESTS_DIR / "requests-1.jsonl").open("w") as req,
        (root / FEEDBACK_DIR / "feedback-1.jsonl").open("w") as fb,
    ):
        for i, start in enumerate(range(0, len(frame), batch)):
            part = frame.iloc[start : start + batch]
            stamp = utc_timestamp(now - timedelta(minutes=len(frame) - i))
            rid = f"req-{i}"
            rows = tuple(tuple(map(float, r)) for r in part[["a", "b"]].to_numpy())
            outputs = tuple("cat" for _ in rows)
            req.write(RequestRecord(rid, stamp, "m", "1", ("a", "b"), rows, outputs).to_line() + "\n")
            fb.write(FeedbackRecord(rid, stamp, tuple(part["species"])).to_line() + "\n")
        req.write('{"kind":"request","request_id":"torn"')  # a crash mid-line


def run(uri: str, name: str, **overrides: object) -> TrainResult:
    cfg = TrainConfig(
        tracking_uri=uri, model_name=name, experiment=name, target_column="species", **overrides
    )  # type: ignore[arg-type]
    return train(cfg, report=lambda _line: None)


def test_retraining_on_a_new_snapshot_and_labelled_traffic_adapts_and_records_lineage(
    mlflow_server: str, model_name: str, tmp_path: Path
) -> None:
    snapshots = tmp_path / "snapshots"
    snapshots.mkdir()
    old = snapshots / snapshot_name(datetime(2026, 1, 1, tzinfo=UTC))
    world(600, 1, shifted=False).to_csv(old, index=False)
    first = run(mlflow_server, model_name, dataset=str(snapshots))
    assert first.promoted, first.reason

    # Same data again: the same model, which the gate rejects (the loop the issue describes).
    again = run(mlflow_server, model_name, dataset=str(snapshots))
    assert not again.promoted

    # The world changes: labelled traffic from it arrives through the inference log.
    log = tmp_path / "inference-log"
    write_log(log, world(400, 2, shifted=True))
    adapted = run(
        mlflow_server, model_name, dataset=str(snapshots), feedback_dir=str(log), feedback_weight=3.0
    )
    assert adapted.promoted, adapted.reason
    assert adapted.champion_score is not None and adapted.candidate_score > adapted.champion_score + 0.2
    print(
        f"\nshifted holdout: champion {adapted.champion_score:.3f} -> candidate {adapted.candidate_score:.3f}"
    )

    client = MlflowClient(tracking_uri=mlflow_server)
    assert str(client.get_model_version_by_alias(model_name, CHAMPION_ALIAS).version) == adapted.model_version
    tags = client.get_run(adapted.run_id).data.tags
    assert tags[Tag.DATASET_SNAPSHOT] == old.name
    assert tags[Tag.GATE_HOLDOUT] == "labelled-traffic"
    assert tags[Tag.FEEDBACK_ROWS] == "300"
    inputs = {i.tags[0].value: i.dataset for i in client.get_run(adapted.run_id).inputs.dataset_inputs}
    assert set(inputs) == {"training", "feedback"}
    assert inputs["training"].source_type == "local"
    assert str(old.resolve()) in inputs["training"].source
    assert inputs["training"].digest == tags[Tag.DATASET_DIGEST]
    assert str(log.resolve()) in inputs["feedback"].source

    # A newer snapshot is what the next run reads, and its digest is recorded.
    new = snapshots / snapshot_name(datetime(2026, 2, 1, tzinfo=UTC), "after-shift")
    world(600, 3, shifted=True).to_csv(new, index=False)
    latest = run(mlflow_server, model_name, dataset=str(snapshots))
    tags = client.get_run(latest.run_id).data.tags
    assert tags[Tag.DATASET_SNAPSHOT] == new.name and tags[Tag.GATE_HOLDOUT] == "dataset"
    assert tags[Tag.DATASET_SHA256] != client.get_run(first.run_id).data.tags[Tag.DATASET_SHA256]

    # String classes survive the registry round trip: the gate's loader, the signature, serving's loader.
    mlflow.set_tracking_uri(mlflow_server)
    model = mlflow.sklearn.load_model(f"models:/{model_name}/{adapted.model_version}")
    assert sorted(model.classes_) == ["bird", "cat", "dog"]
    info = mlflow.models.get_model_info(f"models:/{model_name}/{adapted.model_version}")
    assert info.signature is not None
    assert info.signature.outputs.to_dict() == [{"type": "string", "name": "species", "required": True}]
    loader = MlflowLoader(Connection(mlflow_server))
    served = loader.load(loader.resolve(model_name, CHAMPION_ALIAS))
    assert served.classes == ["bird", "cat", "dog"] and served.feature_names == ("a", "b")
    labels, proba = served.predict(np.array([[2.0, -2.0], [2.0, 0.0], [2.0, 2.0]]))
    assert labels == ["bird", "cat", "dog"] and proba is not None
