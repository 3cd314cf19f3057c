"""Data validation, the trivial baseline and the guarded gate (pure functions; no tracking server needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlops_contract.profile import build_profile
from training.baseline import baseline_score
from training.config import ConfigError, Strictness, TrainConfig
from training.data import Dataset, load_dataset, split
from training.gate import Decision, GateScores, decide_guarded
from training.validation import (
    DataValidationError,
    Reference,
    Severity,
    check_against_reference,
    check_sanity,
)


def frame_dataset(features: dict[str, list[float]], target: list[int]) -> Dataset:
    return Dataset(
        name="d",
        source="memory",
        features=pd.DataFrame(features, dtype=float),
        target=pd.Series(target),
        target_name="label",
    )


def noisy(n: int, seed: int = 0) -> list[float]:
    return [float(v) for v in np.random.default_rng(seed).normal(size=n)]


def test_infinity_is_refused_at_every_strictness_naming_the_column() -> None:
    data = frame_dataset({"a": noisy(40), "b": [*noisy(39), float("inf")]}, [0, 1] * 20)
    for strictness in Strictness:
        with pytest.raises(DataValidationError, match=r"column 'b': 1 non-finite value"):
            check_sanity(data, strictness, min_rows_per_class=10).raise_if_failed("d")


def test_too_few_rows_per_class_names_the_target_column_and_class() -> None:
    data = frame_dataset({"a": noisy(25)}, [0] * 20 + [1] * 5)
    with pytest.raises(DataValidationError, match=r"target column 'label': fewer than 10 rows.*1: 5"):
        check_sanity(data, Strictness.LENIENT, min_rows_per_class=10).raise_if_failed("d")


def test_all_constant_features_are_fatal_a_single_one_only_a_warning() -> None:
    all_constant = frame_dataset({"a": [1.0] * 40, "b": [2.0] * 40}, [0, 1] * 20)
    with pytest.raises(DataValidationError, match="every feature column is constant"):
        check_sanity(all_constant, Strictness.LENIENT, 10).raise_if_failed("d")

    one_constant = frame_dataset({"a": noisy(40), "b": [2.0] * 40}, [0, 1] * 20)
    report = check_sanity(one_constant, Strictness.STANDARD, 10)
    assert [(f.check, f.column, f.severity) for f in report.findings] == [("constant", "b", Severity.WARNING)]
    report.raise_if_failed("d")  # standard: warnings are recorded, not refused
    with pytest.raises(DataValidationError, match="column 'b': constant"):
        check_sanity(one_constant, Strictness.STRICT, 10).raise_if_failed("d")


def test_near_constant_feature_and_imbalance_are_warnings() -> None:
    data = frame_dataset({"a": noisy(400), "b": [0.0] * 399 + [1.0]}, [0] * 385 + [1] * 15)
    report = check_sanity(data, Strictness.STANDARD, 10)
    assert {(f.check, f.column) for f in report.findings} == {
        ("near_constant", "b"),
        ("class_balance", "label"),
    }
    assert report.status == "passed_with_warnings"


def reference_from(data: Dataset, labels: tuple[str, ...] | None = ("0", "1")) -> Reference:
    names = [str(c) for c in data.features.columns]
    return Reference(version="3", profile=build_profile(data.features.to_numpy(), names), labels=labels)


def test_reference_checks_schema_labels_and_a_feature_that_stopped_varying() -> None:
    reference = reference_from(frame_dataset({"a": noisy(40), "b": noisy(40, 1)}, [0, 1] * 20))
    new = frame_dataset({"a": [5.0] * 60, "c": noisy(60)}, [0, 1, 2] * 20)
    report = check_against_reference(new, reference, Strictness.STANDARD)
    messages = [f.message for f in report.failures]
    assert "column 'b': missing (the champion v3 uses it)" in messages
    assert "column 'c': not a feature of the champion v3" in messages
    assert "column 'a': constant, but it varied in the champion's training data" in messages
    assert any("target column 'label': new label(s) 2" in m for m in messages)
    with pytest.raises(DataValidationError, match=r"column 'b': missing"):
        report.raise_if_failed("d")


def test_reference_shift_is_measured_and_only_a_warning() -> None:
    reference = reference_from(frame_dataset({"a": noisy(400)}, [0, 1] * 200))
    shifted = frame_dataset({"a": [v + 3 for v in noisy(400, 2)]}, [0, 1] * 200)
    report = check_against_reference(shifted, reference, Strictness.STANDARD)
    assert report.psi["a"] > 1
    assert [(f.check, f.severity) for f in report.findings] == [("shift", Severity.WARNING)]
    assert not report.failures


def test_validation_error_is_a_config_error_so_the_cli_exits_2() -> None:
    assert issubclass(DataValidationError, ConfigError)


def test_baseline_is_the_best_constant_predictor() -> None:
    cfg = TrainConfig(tracking_uri="http://x")
    parts = split(load_dataset(cfg), cfg)
    # breast_cancer's holdout: answering "benign" for every row already scores F1 0.77, above the 0.7 floor.
    assert baseline_score("f1", parts.y_train, parts.x_holdout, parts.y_holdout) == pytest.approx(
        0.7725, abs=1e-3
    )
    # With the minority as positive class, "always 1" is still the best constant answer (prior would be 0).
    flipped = 1 - parts.y_holdout
    assert baseline_score("f1", 1 - parts.y_train, parts.x_holdout, flipped) > 0.5


@pytest.mark.parametrize(
    ("scores", "decision", "reason"),
    [
        (GateScores(candidate=0.7725, champion=0.0, baseline=0.7725), Decision.REJECTED, "trivial baseline"),
        (GateScores(candidate=0.80, champion=None, baseline=0.7725), Decision.REJECTED, "trivial baseline"),
        (GateScores(candidate=0.95, champion=None, baseline=0.7725), Decision.PROMOTED, "first model"),
        (
            GateScores(
                0.98, 0.10, 0.60, trusted_candidate=0.02, trusted_champion=0.99, trusted_baseline=0.77
            ),
            Decision.REJECTED,
            "on the trusted holdout f1 0.0200 does not beat the trivial baseline",
        ),
        (
            GateScores(
                0.98, 0.10, 0.60, trusted_candidate=0.90, trusted_champion=0.99, trusted_baseline=0.77
            ),
            Decision.REJECTED,
            "falls behind the champion's 0.9900",
        ),
        (
            GateScores(
                0.98, 0.90, 0.60, trusted_candidate=0.99, trusted_champion=0.99, trusted_baseline=0.77
            ),
            Decision.PROMOTED,
            "trusted holdout 0.9900 vs 0.9900",
        ),
    ],
)
def test_guarded_gate_needs_the_baseline_and_no_regression_on_the_trusted_holdout(
    scores: GateScores, decision: Decision, reason: str
) -> None:
    result = decide_guarded("f1", scores, margin=0.005, floor=0.7, baseline_margin=0.05)
    assert result.decision is decision
    assert reason in result.reason
    if "baseline" in reason:
        assert not result.challenger
