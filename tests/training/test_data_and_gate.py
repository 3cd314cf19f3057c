"""Dataset loading and splitting, metrics, and the promotion decision (no tracking server needed)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from training.config import ConfigError, ModelKind, TrainConfig
from training.data import load_dataset, split
from training.evaluate import evaluate
from training.gate import Decision, decide
from training.pipeline import build_pipeline

URI = "http://127.0.0.1:5000"


def cfg(**overrides: object) -> TrainConfig:
    return TrainConfig(tracking_uri=URI, **overrides)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["breast_cancer", "wine", "iris"])
def test_bundled_datasets_load_offline_with_named_features(name: str) -> None:
    data = load_dataset(cfg(dataset=name))
    assert len(data.features) == len(data.target) > 100
    assert all(isinstance(c, str) and c for c in data.features.columns)


def test_split_is_reproducible_so_the_gate_compares_on_the_same_holdout() -> None:
    data = load_dataset(cfg())
    first, second = split(data, cfg()), split(data, cfg())
    assert first.x_holdout.index.equals(second.x_holdout.index)
    assert not first.x_holdout.index.equals(split(data, cfg(random_seed=7)).x_holdout.index)


def write_csv(path: Path, frame: pd.DataFrame) -> str:
    frame.to_csv(path, index=False)
    return str(path)


def test_csv_dataset_with_target_column(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60), "label": [0, 1] * 30})
    data = load_dataset(cfg(dataset=write_csv(tmp_path / "d.csv", frame), target_column="label"))
    assert list(data.features.columns) == ["a", "b"]
    assert data.target_name == "label"


@pytest.mark.parametrize(
    ("frame", "target", "message"),
    [
        (
            pd.DataFrame({"a": [1.0, 2.0], "y": [0, 1]}),
            "label",
            "column 'label' not in d.csv .*columns: a, y",
        ),
        (pd.DataFrame({"a": [1.0, 2.0], "city": ["x", "y"], "y": [0, 1]}), "y", "non-numeric feature.*city"),
        (pd.DataFrame({"a": [1.0, None], "y": [0, 1]}), "y", "missing values in feature column.*a"),
        (
            pd.DataFrame({"a": [1.0, 2.0], "y": [0, 1]}),
            None,
            "--target-column/MLOPS_TARGET_COLUMN: is required",
        ),
    ],
)
def test_bad_csv_gives_a_config_error_naming_the_column(
    tmp_path: Path, frame: pd.DataFrame, target: str | None, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_dataset(cfg(dataset=write_csv(tmp_path / "d.csv", frame), target_column=target))


def test_unknown_dataset_lists_the_allowed_names() -> None:
    with pytest.raises(ConfigError, match=r"unknown dataset 'mnist' .*breast_cancer, wine, iris"):
        load_dataset(cfg(dataset="mnist"))


def test_metrics_cover_binary_and_multiclass() -> None:
    for name in ("breast_cancer", "wine"):
        c = cfg(dataset=name)
        parts = split(load_dataset(c), c)
        model = build_pipeline(c).fit(parts.x_train, parts.y_train)
        metrics = evaluate(model, parts.x_holdout, parts.y_holdout)
        assert set(metrics) == {"accuracy", "precision", "recall", "f1", "roc_auc"}
        assert all(0.8 < v <= 1.0 for v in metrics.values()), metrics


def test_a_stump_is_measurably_worse_than_the_default_model() -> None:
    scores = {}
    for kind, depth in ((ModelKind.LOGISTIC_REGRESSION, None), (ModelKind.DECISION_TREE, 1)):
        c = cfg(model=kind, max_depth=depth)
        parts = split(load_dataset(c), c)
        scores[kind] = evaluate(
            build_pipeline(c).fit(parts.x_train, parts.y_train), parts.x_holdout, parts.y_holdout
        )
    assert scores[ModelKind.DECISION_TREE]["f1"] + 0.02 < scores[ModelKind.LOGISTIC_REGRESSION]["f1"]


@pytest.mark.parametrize(
    ("candidate", "champion", "decision", "reason"),
    [
        (0.9, None, Decision.PROMOTED, "first model"),
        (0.6, None, Decision.REJECTED, "below the floor"),
        (0.95, 0.9, Decision.PROMOTED, "beats the champion"),
        (0.903, 0.9, Decision.REJECTED, "does not beat"),
        (0.85, 0.9, Decision.REJECTED, "does not beat"),
        (0.65, 0.6, Decision.REJECTED, "below the floor"),
    ],
)
def test_gate_promotes_only_above_floor_and_by_more_than_the_margin(
    candidate: float, champion: float | None, decision: Decision, reason: str
) -> None:
    result = decide("f1", candidate, champion, margin=0.005, floor=0.7)
    assert result.decision is decision
    assert reason in result.reason
