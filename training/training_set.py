"""The rows a run fits and gates on: the dataset's split, plus labelled recent traffic when there is some.

Labelled traffic is split with the run's seed like the dataset. Its training part joins the dataset's with a
configurable sample weight; its holdout part, when large enough, replaces the dataset's holdout: the gate
then compares champion and candidate on the same fresh rows from the world as it is now.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd

from training.config import TrainConfig
from training.data import Dataset, Split, split
from training.feedback_data import LabelledTraffic


class HoldoutSource(StrEnum):
    """Where the gate's holdout rows came from (tagged on the run)."""

    DATASET = "dataset"
    LABELLED_TRAFFIC = "labelled-traffic"


@dataclass(frozen=True)
class TrainingSet:
    """Fit on x_train/y_train (weighted when sample_weight is set); gate on x_holdout/y_holdout."""

    x_train: pd.DataFrame
    y_train: pd.Series
    sample_weight: np.ndarray | None
    x_holdout: pd.DataFrame
    y_holdout: pd.Series
    holdout_source: HoldoutSource
    traffic_rows: int
    """Labelled-traffic rows in x_train."""


def from_split(parts: Split) -> TrainingSet:
    """The dataset alone."""
    return TrainingSet(
        parts.x_train, parts.y_train, None, parts.x_holdout, parts.y_holdout, HoldoutSource.DATASET, 0
    )


def build_training_set(dataset: Dataset, traffic: LabelledTraffic | None, cfg: TrainConfig) -> TrainingSet:
    """The dataset's split, extended with labelled traffic as the module docstring describes."""
    parts = split(dataset, cfg)
    if traffic is None or len(traffic.features) == 0:
        return from_split(parts)
    traffic_train, traffic_holdout = _split_traffic(traffic, cfg)
    use_traffic_holdout = len(traffic_holdout[0]) >= cfg.feedback_min_holdout_rows
    if not use_traffic_holdout:
        # Too few rows to gate on: every labelled row trains instead.
        traffic_train = (traffic.features, traffic.target)
    x_train = pd.concat([parts.x_train, traffic_train[0]], ignore_index=True)
    y_train = pd.concat([parts.y_train, traffic_train[1]], ignore_index=True)
    weights = np.concatenate(
        [np.ones(len(parts.x_train)), np.full(len(traffic_train[0]), cfg.feedback_weight)]
    )
    if use_traffic_holdout:
        x_holdout, y_holdout, source = *traffic_holdout, HoldoutSource.LABELLED_TRAFFIC
    else:
        x_holdout, y_holdout, source = parts.x_holdout, parts.y_holdout, HoldoutSource.DATASET
    return TrainingSet(x_train, y_train, weights, x_holdout, y_holdout, source, len(traffic_train[0]))


def _split_traffic(
    traffic: LabelledTraffic, cfg: TrainConfig
) -> tuple[tuple[pd.DataFrame, pd.Series], tuple[pd.DataFrame, pd.Series]]:
    """A seeded shuffle split (not stratified: a rare new class must not make the split fail)."""
    order = np.random.default_rng(cfg.random_seed).permutation(len(traffic.features))
    n_holdout = round(len(order) * cfg.test_size)
    held, kept = order[:n_holdout], order[n_holdout:]
    features, target = traffic.features, traffic.target.reset_index(drop=True)
    return (
        (features.iloc[kept].reset_index(drop=True), target.iloc[kept].reset_index(drop=True)),
        (features.iloc[held].reset_index(drop=True), target.iloc[held].reset_index(drop=True)),
    )
