"""The drift demo driver's own logic: accuracy from feedback, the verdict, durations, the fresh-state rule.

The driver's steps against real processes are tests/integration/test_devloop_adaptation.py.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from devloop.adaptation import (
    RECOVERY_MARGIN,
    AdaptationResult,
    ControlResult,
    Tally,
    duration_seconds,
    require_fresh_state,
    verdict,
)
from devloop.config import DevLoopConfig
from devloop.local_platform import DevLoopError, LocalPlatform
from mlops_contract.names import Tag


def test_accuracy_is_counted_per_model_version_from_predictions_and_labels() -> None:
    tally = Tally()
    tally.add("1", [0, 1, 1, 0], [0, 0, 1, 1])
    tally.add("2", [1.0, 0], [1, 0])  # a float class is the same label
    tally.add("2", [True], [1])  # a bool is not the class 1
    assert (tally.rows("1"), tally.accuracy("1")) == (4, 0.5)
    assert tally.rows("2") == 3 and tally.accuracy("2") == pytest.approx(2 / 3)
    assert tally.rows() == 7 and tally.accuracy() == pytest.approx(4 / 7)
    assert tally.requests == 3
    assert Tally().accuracy() != Tally().accuracy()  # NaN before any row


ADAPTED = AdaptationResult(
    champion_before="1",
    champion_after="2",
    normal_accuracy=0.98,
    shifted_accuracy_before=0.55,
    shifted_accuracy_after=0.95,
    shifted_rows_before=3000,
    evaluation_versions=("2",),
    seconds_to_alert=40.0,
    seconds_to_trigger=41.0,
    seconds_to_promotion=100.0,
    seconds_to_reload=102.0,
    psi_at_alert=8.0,
    drifted_feature="worst texture",
    alerts_at_alert={"FeatureDrift": "firing"},
    retrainings=1,
    versions_added=1,
    gate={Tag.GATE_HOLDOUT: "labelled-traffic"},
)
QUIET = ControlResult(
    champion_before="1",
    champion_after="1",
    observed_seconds=65.0,
    rows=2000,
    accuracy=0.99,
    alerts_seen={},
    max_psi=0.1,
    psi_samples=30,
    retrainings=0,
    versions_added=0,
)


def test_the_verdict_passes_what_the_demo_promises_and_names_each_miss() -> None:
    assert verdict(ADAPTED) == [] and verdict(QUIET) == []
    assert verdict(replace(ADAPTED, retrainings=2)) == ["2 retrainings instead of one"]
    assert verdict(replace(ADAPTED, gate={Tag.GATE_HOLDOUT: "dataset"})) == [
        "the gate did not score on new data"
    ]
    barely = replace(ADAPTED, shifted_accuracy_after=0.55 + RECOVERY_MARGIN - 0.01)
    assert [p.split(",")[0] for p in verdict(barely)] == ["accuracy recovered by +0.240"]
    assert len(verdict(replace(QUIET, alerts_seen={"FeatureDrift": "pending"}, retrainings=1))) == 2
    assert verdict(replace(QUIET, psi_samples=0, max_psi=None)) == [
        "the drift window never held enough rows to be evaluated"
    ]


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30.0), ("5m", 300.0), ("1m30s", 90.0), ("250ms", 0.25)]
)
def test_prometheus_durations_are_read_in_seconds(text: str, seconds: float) -> None:
    assert duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "5 m", "1x"])
def test_a_malformed_duration_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a Prometheus duration"):
        duration_seconds(text)


def test_a_demo_refuses_a_state_dir_that_already_has_a_registry(tmp_path: Path) -> None:
    platform = LocalPlatform(DevLoopConfig(state_dir=tmp_path))
    require_fresh_state(platform)  # empty: fine
    (tmp_path / "mlflow").mkdir()
    with pytest.raises(DevLoopError, match="needs a fresh state dir"):
        require_fresh_state(platform)
