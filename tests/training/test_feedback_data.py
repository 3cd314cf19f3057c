"""Labelled traffic from inference-log files written in the contract's format (mlops_contract/inference_log.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops_contract.inference_log import (
    FEEDBACK_DIR,
    REQUESTS_DIR,
    FeedbackRecord,
    Label,
    RequestRecord,
    utc_timestamp,
)
from training.config import ConfigError, TrainConfig
from training.data import Dataset
from training.feedback_data import LabelledTraffic, read_labelled_traffic
from training.training_set import HoldoutSource, build_training_set

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)
FEATURES = ("a", "b")


class Log:
    """Writes request and feedback files the way serving does (one JSON line per record)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / REQUESTS_DIR).mkdir(parents=True)
        (root / FEEDBACK_DIR).mkdir(parents=True)

    def request(
        self,
        rid: str,
        rows: list[tuple[float, ...]],
        age_hours: float = 1.0,
        features: tuple[str, ...] = FEATURES,
        file: str = "requests-0001.jsonl",
    ) -> None:
        record = RequestRecord(
            request_id=rid,
            timestamp=utc_timestamp(NOW - timedelta(hours=age_hours)),
            model_name="m",
            model_version="3",
            features=features,
            inputs=tuple(rows),
            outputs=tuple(0 for _ in rows),
        )
        with (self.root / REQUESTS_DIR / file).open("a") as out:
            out.write(record.to_line() + "\n")

    def feedback(self, rid: str, labels: list[Label], age_hours: float = 0.5, file: str = "fb.jsonl") -> None:
        record = FeedbackRecord(rid, utc_timestamp(NOW - timedelta(hours=age_hours)), tuple(labels))
        with (self.root / FEEDBACK_DIR / file).open("a") as out:
            out.write(record.to_line() + "\n")

    def raw(self, kind: str, text: str, file: str) -> None:
        with (self.root / kind / file).open("a") as out:
            out.write(text)


def read(root: Path, target: pd.Series, hours: float = 24) -> LabelledTraffic:
    return read_labelled_traffic(root, NOW - timedelta(hours=hours), ["a", "b"], target)


def test_requests_join_feedback_by_id_within_the_window_and_torn_lines_are_counted(tmp_path: Path) -> None:
    log = Log(tmp_path)
    log.request("r1", [(1.0, 2.0), (3.0, 4.0)])
    log.request("r2", [(5.0, 6.0)], age_hours=2)
    log.request("old", [(9.0, 9.0)], age_hours=48)  # outside a 24 h window
    log.request("unlabelled", [(7.0, 7.0)])
    log.request("wrong-count", [(8.0, 8.0)])
    # Columns in another order than the training data's are reordered by name.
    log.request("swapped", [(20.0, 10.0)], features=("b", "a"), file="requests-0002.jsonl")
    log.feedback("r1", [1, 0])
    log.feedback("r2", [0], age_hours=1.5)
    log.feedback("r2", [1], age_hours=0.1)  # a corrected label sent later wins
    log.feedback("old", [1])
    log.feedback("wrong-count", [1, 1])
    log.feedback("swapped", [1])
    log.raw(REQUESTS_DIR, '{"kind":"request","request_id":"torn","timest', "requests-0002.jsonl")
    log.raw(FEEDBACK_DIR, "not json\n", "fb.jsonl")
    log.raw(REQUESTS_DIR, "ignored: still being written\n", ".requests-0003.jsonl")

    traffic = read(tmp_path, pd.Series([0, 1], dtype="int64"))
    assert traffic.features.to_dict("list") == {"a": [5.0, 1.0, 3.0, 10.0], "b": [6.0, 2.0, 4.0, 20.0]}
    assert traffic.target.tolist() == [1, 1, 0, 1] and traffic.target.dtype == np.int64
    assert (traffic.requests, traffic.labelled_requests) == (5, 3)
    assert (traffic.skipped_lines, traffic.mismatched_feedback) == (2, 1)
    assert "4 rows from 3 of 5 requests" in traffic.summary()


def test_recent_inputs_are_the_last_rows_of_all_requests_labelled_or_not(tmp_path: Path) -> None:
    """What serving saw lately, oldest first: unlabelled requests count, requests outside the window and of
    another schema do not (unlabelled ones of another schema are no error), and the cut is by rows."""
    log = Log(tmp_path)
    log.request("old", [(9.0, 9.0)], age_hours=48)
    log.request("r1", [(1.0, 1.0), (2.0, 2.0)], age_hours=3)
    log.request("r2", [(3.0, 3.0)], age_hours=2)
    log.request("other-schema", [(0.0, 0.0)], age_hours=1.5, features=("a", "c"))
    log.request("r3", [(4.0, 40.0), (5.0, 50.0)], age_hours=1)
    log.feedback("r2", [1])
    target = pd.Series([0, 1])
    recent = read_labelled_traffic(tmp_path, NOW - timedelta(hours=24), ["a", "b"], target, recent_rows=4)
    assert recent.recent_inputs.to_dict("list") == {"a": [2.0, 3.0, 4.0, 5.0], "b": [2.0, 3.0, 40.0, 50.0]}
    everything = read_labelled_traffic(
        tmp_path, NOW - timedelta(hours=24), ["a", "b"], target, recent_rows=99
    )
    assert everything.recent_inputs["a"].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert len(read(tmp_path, target).recent_inputs) == 0  # not asked for
    assert recent.features.to_dict("list") == {"a": [3.0], "b": [3.0]}  # the labelled rows are unchanged


def test_string_labels_stay_strings_and_numeric_targets_refuse_words(tmp_path: Path) -> None:
    log = Log(tmp_path)
    log.request("r1", [(1.0, 2.0)])
    log.feedback("r1", ["cat"])
    assert read(tmp_path, pd.Series(["cat", "dog"])).target.tolist() == ["cat"]
    with pytest.raises(ConfigError, match=r"feedback labels \['cat'\] are not numbers"):
        read(tmp_path, pd.Series([0, 1]))


def test_traffic_with_other_feature_names_is_refused_naming_them(tmp_path: Path) -> None:
    log = Log(tmp_path)
    log.request("r1", [(1.0, 2.0)], features=("a", "c"))
    log.feedback("r1", [1])
    with pytest.raises(
        ConfigError,
        match=r"--feedback-dir/MLOPS_INFERENCE_LOG_DIR: request r1 .*missing \['b'\], unexpected \['c'\]",
    ):
        read(tmp_path, pd.Series([0, 1]))


def test_missing_log_directory_is_a_config_error_and_an_empty_one_is_no_traffic(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is not a directory"):
        read(tmp_path / "absent", pd.Series([0, 1]))
    empty = read(tmp_path, pd.Series([0, 1]))
    assert len(empty.features) == 0 and empty.requests == 0


def _dataset(n: int) -> Dataset:
    rng = np.random.default_rng(1)
    x = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    return Dataset("d", "mem", x, pd.Series((x["a"] > 0).astype(int)), "y")


def _traffic(n: int) -> LabelledTraffic:
    rng = np.random.default_rng(2)
    x = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    return LabelledTraffic(x, pd.Series((x["b"] > 0).astype(int)), n, n, 0, 0, x)


def test_labelled_traffic_joins_training_weighted_and_supplies_the_gates_holdout() -> None:
    cfg = TrainConfig(tracking_uri="x", feedback_weight=3.0, feedback_min_holdout_rows=20)
    parts = build_training_set(_dataset(200), _traffic(100), cfg)
    assert parts.holdout_source is HoldoutSource.LABELLED_TRAFFIC
    assert len(parts.x_holdout) == 25 and parts.traffic_rows == 75
    assert len(parts.x_train) == 150 + 75
    assert parts.sample_weight is not None
    assert parts.sample_weight.tolist() == [1.0] * 150 + [3.0] * 75
    again = build_training_set(_dataset(200), _traffic(100), cfg)
    pd.testing.assert_frame_equal(parts.x_holdout, again.x_holdout)  # same seed, same holdout


def test_too_little_traffic_trains_on_all_of_it_and_gates_on_the_datasets_holdout() -> None:
    cfg = TrainConfig(tracking_uri="x", feedback_min_holdout_rows=20)
    parts = build_training_set(_dataset(200), _traffic(40), cfg)
    assert parts.holdout_source is HoldoutSource.DATASET and len(parts.x_holdout) == 50
    assert parts.traffic_rows == 40 and len(parts.x_train) == 190
    alone = build_training_set(_dataset(200), None, cfg)
    assert alone.sample_weight is None and alone.traffic_rows == 0
