"""The inference log and feedback record formats: serving writes them, retraining reads them.

Layout under the log directory (a volume in the cluster, a local directory in the dev loop):

    <dir>/requests/*.jsonl   one RequestRecord per line (serving rotates these files by size)
    <dir>/feedback/*.jsonl   one FeedbackRecord per line (true labels sent to POST /v1/feedback)

A file whose name starts with "." is still being written and is not read. Readers skip lines that do not
parse (a torn last line after a crash must not stop a retraining), and count them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

REQUESTS_DIR: Final = "requests"
FEEDBACK_DIR: Final = "feedback"
RECORD_SUFFIX: Final = ".jsonl"
# The response header that carries a logged request's id back to the client (feedback refers to it).
REQUEST_ID_HEADER: Final = "X-Request-ID"

Label = str | int | float | bool


def utc_timestamp(moment: datetime | None = None) -> str:
    """ISO 8601 in UTC with a Z suffix: what every record's `timestamp` holds."""
    moment = moment or datetime.now(UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_timestamp(text: str) -> datetime:
    """The inverse of utc_timestamp; ValueError when it is not one."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no time zone")
    return moment


@dataclass(frozen=True)
class RequestRecord:
    """One logged prediction request: inputs as rows in `features` order and one output per row."""

    request_id: str
    timestamp: str
    model_name: str
    model_version: str
    features: tuple[str, ...]
    inputs: tuple[tuple[float, ...], ...]
    outputs: tuple[Label, ...]

    def to_line(self) -> str:
        """One JSON line (no trailing newline)."""
        return json.dumps(
            {
                "kind": "request",
                "request_id": self.request_id,
                "timestamp": self.timestamp,
                "model_name": self.model_name,
                "model_version": self.model_version,
                "features": list(self.features),
                "inputs": [list(row) for row in self.inputs],
                "outputs": list(self.outputs),
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_line(cls, line: str) -> RequestRecord:
        """Parse one line; ValueError names what is wrong."""
        raw = _object(line, "request")
        try:
            features = tuple(str(f) for f in raw["features"])
            inputs = tuple(tuple(float(v) for v in row) for row in raw["inputs"])
            outputs = tuple(raw["outputs"])
            record = cls(
                request_id=str(raw["request_id"]),
                timestamp=str(raw["timestamp"]),
                model_name=str(raw["model_name"]),
                model_version=str(raw["model_version"]),
                features=features,
                inputs=inputs,
                outputs=outputs,
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed request record: {exc!r}") from exc
        if any(len(row) != len(features) for row in inputs):
            raise ValueError("malformed request record: a row's length differs from the feature list")
        if len(outputs) != len(inputs):
            raise ValueError("malformed request record: outputs and inputs differ in length")
        if not all(math.isfinite(v) for row in inputs for v in row):
            raise ValueError("malformed request record: a non-finite input")
        parse_timestamp(record.timestamp)
        return record


@dataclass(frozen=True)
class FeedbackRecord:
    """The true labels of one logged request, one per row of that request, in row order."""

    request_id: str
    timestamp: str
    labels: tuple[Label, ...]

    def to_line(self) -> str:
        """One JSON line (no trailing newline)."""
        return json.dumps(
            {
                "kind": "feedback",
                "request_id": self.request_id,
                "timestamp": self.timestamp,
                "labels": list(self.labels),
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_line(cls, line: str) -> FeedbackRecord:
        """Parse one line; ValueError names what is wrong."""
        raw = _object(line, "feedback")
        try:
            record = cls(
                request_id=str(raw["request_id"]),
                timestamp=str(raw["timestamp"]),
                labels=tuple(raw["labels"]),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed feedback record: {exc!r}") from exc
        if not record.labels or not all(isinstance(label, Label) for label in record.labels):
            raise ValueError("malformed feedback record: labels must be a non-empty list of scalars")
        parse_timestamp(record.timestamp)
        return record


def _object(line: str, kind: str) -> dict[str, Any]:
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not a JSON line: {exc}") from exc
    if not isinstance(raw, dict) or raw.get("kind") != kind:
        raise ValueError(f"not a {kind} record")
    return raw
