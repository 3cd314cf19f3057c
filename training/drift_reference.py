"""The rows the drift reference profile is built from: recent traffic when the inference log has enough.

Serving measures drift as the PSI of its recent inputs against the served model's profile. A profile of the
training rows describes the dataset's world: after the platform has adapted to a shift (trained on labelled
shifted traffic), the training rows still hold the old world, and the traffic that was just learned kept
firing FeatureDrift against the new model (a PSI of about 1.5 on the shifted feature; docs/monitoring.md).
The last rows serving logged describe the world the promoted model will serve, labelled or not.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import pandas as pd

from training.config import TrainConfig
from training.feedback_data import LabelledTraffic
from training.training_set import TrainingSet


class ReferenceSource(StrEnum):
    """Where the reference rows came from (tagged on the run)."""

    TRAINING_ROWS = "training-rows"
    RECENT_TRAFFIC = "recent-traffic"


@dataclass(frozen=True)
class ReferenceRows:
    """The rows to profile and where they came from."""

    rows: pd.DataFrame
    source: ReferenceSource


def reference_rows(parts: TrainingSet, traffic: LabelledTraffic | None, cfg: TrainConfig) -> ReferenceRows:
    """The inference log's last `reference_recent_rows` rows when it has that many, else the training rows."""
    wanted = cfg.reference_recent_rows
    if wanted > 0 and traffic is not None and len(traffic.recent_inputs) >= wanted:
        return ReferenceRows(traffic.recent_inputs, ReferenceSource.RECENT_TRAFFIC)
    return ReferenceRows(parts.x_train, ReferenceSource.TRAINING_ROWS)
