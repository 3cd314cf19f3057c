"""Labelled recent traffic: inference-log requests joined with their feedback by request id.

The format is mlops_contract/inference_log.py's. Lines that do not parse (a torn last line after a crash) are
skipped and counted, never fatal; traffic whose features differ from the training data's is refused, since
its columns would be silently misread.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from mlops_contract.inference_log import (
    FEEDBACK_DIR,
    RECORD_SUFFIX,
    REQUESTS_DIR,
    FeedbackRecord,
    RequestRecord,
    parse_timestamp,
)
from training.config import ConfigError

WHERE = "--feedback-dir/MLOPS_INFERENCE_LOG_DIR"


@dataclass(frozen=True)
class LabelledTraffic:
    """Rows of logged requests that have true labels, in the training data's column order."""

    features: pd.DataFrame
    target: pd.Series
    requests: int
    """Request records inside the window."""
    labelled_requests: int
    """Of those, how many had feedback whose label count matched their rows."""
    skipped_lines: int
    """Lines that did not parse (torn or malformed), in either kind of file."""
    mismatched_feedback: int
    """Feedback for a request in the window whose label count differs from the request's rows."""
    recent_inputs: pd.DataFrame
    """The last rows of the window's requests, labelled or not, oldest first (at most the `recent_rows`
    asked for): what serving saw lately, which the drift reference profile can be built from."""

    def summary(self) -> str:
        """One line for the training report."""
        return (
            f"labelled traffic: {len(self.features)} rows from {self.labelled_requests} of {self.requests} "
            f"requests in the window ({self.skipped_lines} unreadable lines skipped, "
            f"{self.mismatched_feedback} feedback records with a wrong label count)"
        )


def _lines(directory: Path) -> Iterator[str]:
    if not directory.is_dir():
        return
    # Dotfiles are still being written (the contract's rule); sorted, so the result does not depend on the
    # file system's listing order.
    for path in sorted(directory.glob(f"*{RECORD_SUFFIX}")):
        if path.name.startswith("."):
            continue
        with path.open(encoding="utf-8", errors="replace") as handle:
            yield from handle


def read_labelled_traffic(
    log_dir: Path,
    since: datetime,
    feature_names: Sequence[str],
    reference_target: pd.Series,
    recent_rows: int = 0,
) -> LabelledTraffic:
    """Requests logged at or after `since` that have feedback, as features and target; and the last
    `recent_rows` rows of all requests logged since then."""
    if not log_dir.is_dir():
        raise ConfigError(f"{WHERE}: {str(log_dir)!r} is not a directory")
    skipped = 0
    requests: dict[str, RequestRecord] = {}
    for line in _lines(log_dir / REQUESTS_DIR):
        try:
            record = RequestRecord.from_line(line)
        except ValueError:
            skipped += 1
            continue
        if parse_timestamp(record.timestamp) >= since:
            requests[record.request_id] = record
    feedback: dict[str, FeedbackRecord] = {}
    for line in _lines(log_dir / FEEDBACK_DIR):
        try:
            answer = FeedbackRecord.from_line(line)
        except ValueError:
            skipped += 1
            continue
        known = feedback.get(answer.request_id)
        # A corrected label sent later wins.
        if known is None or parse_timestamp(answer.timestamp) >= parse_timestamp(known.timestamp):
            feedback[answer.request_id] = answer
    return _join(requests, feedback, skipped, list(feature_names), reference_target, recent_rows)


def _join(
    requests: dict[str, RequestRecord],
    feedback: dict[str, FeedbackRecord],
    skipped: int,
    feature_names: list[str],
    reference_target: pd.Series,
    recent_rows: int,
) -> LabelledTraffic:
    rows: list[tuple[float, ...]] = []
    labels: list[object] = []
    labelled = mismatched = 0
    ordered = sorted(requests.values(), key=lambda r: (parse_timestamp(r.timestamp), r.request_id))
    for record in ordered:
        answer = feedback.get(record.request_id)
        if answer is None:
            continue
        if len(answer.labels) != len(record.inputs):
            mismatched += 1
            continue
        _check_features(record, feature_names)
        rows.extend(_rows(record, feature_names))
        labels.extend(answer.labels)
        labelled += 1
    features = pd.DataFrame(rows, columns=feature_names, dtype=float)
    target = _like(pd.Series(labels, dtype=object), reference_target)
    recent = _recent_inputs(ordered, feature_names, recent_rows)
    return LabelledTraffic(features, target, len(requests), labelled, skipped, mismatched, recent)


def _recent_inputs(ordered: list[RequestRecord], feature_names: list[str], limit: int) -> pd.DataFrame:
    """The last `limit` rows of the requests (oldest first), in the training data's column order. Requests
    of another schema are left out: only labelled ones are an error, since only they are trained on."""
    chunks: list[list[tuple[float, ...]]] = []
    count = 0
    for record in reversed(ordered):
        if count >= limit:
            break
        if not _same_features(record, feature_names):
            continue
        chunks.append(_rows(record, feature_names))
        count += len(record.inputs)
    rows = [row for chunk in reversed(chunks) for row in chunk]
    return pd.DataFrame(rows[max(0, len(rows) - limit) :], columns=feature_names, dtype=float)


def _rows(record: RequestRecord, feature_names: list[str]) -> list[tuple[float, ...]]:
    """The request's rows in the training data's column order (its features may come in any order)."""
    position = {name: i for i, name in enumerate(record.features)}
    return [tuple(row[position[name]] for name in feature_names) for row in record.inputs]


def _same_features(record: RequestRecord, feature_names: list[str]) -> bool:
    return set(record.features) == set(feature_names) and len(record.features) == len(feature_names)


def _check_features(record: RequestRecord, feature_names: list[str]) -> None:
    if _same_features(record, feature_names):
        return
    missing = [n for n in feature_names if n not in record.features]
    extra = [n for n in record.features if n not in feature_names]
    raise ConfigError(
        f"{WHERE}: request {record.request_id} (model {record.model_name} v{record.model_version}) has "
        f"features that differ from the training data's: missing {missing or 'none'}, "
        f"unexpected {extra or 'none'}; move traffic of another schema out of the log or shorten the "
        "window (--feedback-window-hours)"
    )


def _like(labels: pd.Series, reference: pd.Series) -> pd.Series:
    """Labels in the training target's type, so 1 and "1" are not two classes."""
    if pd.api.types.is_numeric_dtype(reference) and not pd.api.types.is_bool_dtype(reference):
        numbers = pd.to_numeric(labels, errors="coerce")
        bad = labels[numbers.isna()]
        if len(bad):
            raise ConfigError(
                f"{WHERE}: feedback labels {sorted({str(v) for v in bad})[:5]} are not numbers, "
                "but the training data's target is numeric"
            )
        if pd.api.types.is_integer_dtype(reference) and (numbers == numbers.round()).all():
            return numbers.astype(reference.dtype)
        return numbers.astype(float)
    if pd.api.types.is_bool_dtype(reference):
        return labels.astype(bool)
    return labels.astype(str)
