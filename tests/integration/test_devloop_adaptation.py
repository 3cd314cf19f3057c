"""The drift loop adapts, end to end through the local dev loop (real processes, no mocks).

A labelled stream whose inputs shift in one feature and whose labels follow a changed rule, with feedback sent
under each response's request id -> FeatureDrift fires -> Alertmanager calls the trigger, which starts one
retraining on the inference log -> the new model beats the champion on a holdout drawn from the labelled
traffic -> promoted -> serving reloads it -> accuracy on shifted rows recovers. The control run sends the same
traffic unshifted for longer than the alert's `for:`: no alert, no retraining. The driver is the one
`python -m devloop --demo-drift` runs (devloop/adaptation.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from devloop.adaptation import RECOVERY_MARGIN, adapt, control, control_seconds
from devloop.local_platform import LocalPlatform
from devloop.monitoring_stack import alertmanager_binary, prometheus_binary
from mlops_contract.names import Tag
from tests.integration.devloop_support import local_config

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(600),
    pytest.mark.skipif(
        prometheus_binary() is None or alertmanager_binary() is None,
        reason="Prometheus/Alertmanager not installed (scripts/setup.sh system)",
    ),
]


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[LocalPlatform]:
    cfg = local_config(tmp_path, inference_log_sample_rate=1.0, inference_log_rotate_seconds=2.0)
    lines: list[str] = []

    def report(line: str) -> None:
        lines.append(line)
        if not line.startswith("  training |"):
            print(line, flush=True)

    local = LocalPlatform(cfg, report=report)
    try:
        local.up()
        yield local
    finally:
        local.stop()


def test_shifted_labelled_traffic_is_learned_by_one_drift_retraining(platform: LocalPlatform) -> None:
    result = adapt(platform)
    print(f"\nmeasured: {json.dumps(result.__dict__, indent=1, default=str)}")
    print(
        f"shift -> FeatureDrift firing: {result.seconds_to_alert:.1f}s; -> promotion: "
        f"{result.seconds_to_promotion:.1f}s; -> reload: {result.seconds_to_reload:.1f}s"
    )
    # The champion was right before the change and misled after it.
    assert result.normal_accuracy >= 0.9
    assert result.shifted_rows_before >= 100
    # One feature moved: the feature-level alert, not the dataset-level one.
    assert result.drifted_feature == "worst texture"
    assert (
        result.alerts_at_alert.get("FeatureDrift") == "firing"
        and "DatasetDrift" not in result.alerts_at_alert
    )
    # Exactly one retraining, which learned from the labelled traffic and was gated on it.
    assert result.retrainings == 1 and result.versions_added == 1
    assert int(result.gate[Tag.FEEDBACK_ROWS]) > 0
    assert result.gate[Tag.GATE_HOLDOUT] == "labelled-traffic"
    assert float(result.gate[Tag.GATE_CANDIDATE_SCORE]) > float(result.gate[Tag.GATE_CHAMPION_SCORE])
    assert result.champion_after != result.champion_before
    # Serving reloaded it, and it fits the new world on rows it never saw.
    assert result.evaluation_versions == (result.champion_after,)
    assert result.shifted_accuracy_after >= result.shifted_accuracy_before + RECOVERY_MARGIN
    assert result.seconds_to_alert < result.seconds_to_promotion <= result.seconds_to_reload
    # Its drift reference is the world it now serves (the inference log's recent rows), so the traffic it
    # learned no longer reads as drift and cannot fire FeatureDrift again.
    assert result.gate[Tag.REFERENCE_SOURCE] == "recent-traffic"
    assert result.psi_after and max(result.psi_after.values()) < platform.cfg.drift_feature_psi


def test_the_same_traffic_without_the_shift_raises_no_alert_and_retrains_nothing(
    platform: LocalPlatform,
) -> None:
    result = control(platform)
    print(f"\nmeasured: {json.dumps(result.__dict__, indent=1, default=str)}")
    assert result.observed_seconds >= control_seconds(platform)
    # The drift rules had a PSI to evaluate for most of the window (the minimum-window guard was passed) ...
    assert result.psi_samples >= 10 and result.max_psi is not None
    # ... and it stayed quiet.
    assert result.max_psi < platform.cfg.drift_feature_psi
    assert result.alerts_seen == {}
    assert result.retrainings == 0 and result.versions_added == 0
    assert result.champion_after == result.champion_before
    assert result.accuracy >= 0.9
