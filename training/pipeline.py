"""The scikit-learn Pipeline a TrainConfig describes."""

from __future__ import annotations

from typing import Any

from sklearn.base import ClassifierMixin
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from training.config import ModelKind, TrainConfig


def _estimator(cfg: TrainConfig) -> ClassifierMixin:
    match cfg.model:
        case ModelKind.LOGISTIC_REGRESSION:
            return LogisticRegression(C=cfg.c, max_iter=2000, random_state=cfg.random_seed)
        case ModelKind.RANDOM_FOREST:
            return RandomForestClassifier(
                n_estimators=cfg.n_estimators, max_depth=cfg.max_depth, random_state=cfg.random_seed, n_jobs=1
            )
        case ModelKind.DECISION_TREE:
            return DecisionTreeClassifier(max_depth=cfg.max_depth, random_state=cfg.random_seed)


def build_pipeline(cfg: TrainConfig) -> Pipeline:
    """Scaling, then the configured classifier (harmless for trees, needed by the linear model)."""
    return Pipeline([("scale", StandardScaler()), ("model", _estimator(cfg))])


def pipeline_params(cfg: TrainConfig) -> dict[str, Any]:
    """The hyperparameters that matter for this model kind (what gets logged)."""
    common: dict[str, Any] = {
        "model": cfg.model.value,
        "test_size": cfg.test_size,
        "random_seed": cfg.random_seed,
    }
    match cfg.model:
        case ModelKind.LOGISTIC_REGRESSION:
            return {**common, "C": cfg.c}
        case ModelKind.RANDOM_FOREST:
            return {**common, "n_estimators": cfg.n_estimators, "max_depth": cfg.max_depth}
        case ModelKind.DECISION_TREE:
            return {**common, "max_depth": cfg.max_depth}
