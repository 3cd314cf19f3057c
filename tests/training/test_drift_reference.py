"""Which rows the drift reference profile is built from (training/drift_reference.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.config import TrainConfig
from training.drift_reference import ReferenceSource, reference_rows
from training.feedback_data import LabelledTraffic
from training.training_set import HoldoutSource, TrainingSet


def _parts(n: int) -> TrainingSet:
    x = pd.DataFrame({"a": np.arange(n, dtype=float)})
    y = pd.Series(np.zeros(n, dtype=int))
    return TrainingSet(x, y, None, x, y, HoldoutSource.DATASET, 0)


def _traffic(recent: int) -> LabelledTraffic:
    x = pd.DataFrame({"a": np.full(recent, 100.0)})
    empty = pd.DataFrame({"a": []}, dtype=float)
    return LabelledTraffic(empty, pd.Series([], dtype=int), recent, 0, 0, 0, x)


def test_enough_recent_traffic_is_the_reference_and_too_little_leaves_the_training_rows() -> None:
    cfg = TrainConfig(tracking_uri="x", reference_recent_rows=50)
    enough = reference_rows(_parts(10), _traffic(50), cfg)
    assert enough.source is ReferenceSource.RECENT_TRAFFIC and enough.rows["a"].tolist() == [100.0] * 50
    short = reference_rows(_parts(10), _traffic(49), cfg)
    assert short.source is ReferenceSource.TRAINING_ROWS and short.rows["a"].tolist() == list(range(10))
    assert reference_rows(_parts(10), None, cfg).source is ReferenceSource.TRAINING_ROWS


def test_zero_recent_rows_always_profiles_the_training_rows() -> None:
    cfg = TrainConfig(tracking_uri="x", reference_recent_rows=0)
    assert reference_rows(_parts(10), _traffic(500), cfg).source is ReferenceSource.TRAINING_ROWS
