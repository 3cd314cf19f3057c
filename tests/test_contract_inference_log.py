"""The inference log record formats round-trip and refuse what a reader must not trust."""

from __future__ import annotations

import pytest

from mlops_contract.inference_log import FeedbackRecord, RequestRecord, parse_timestamp, utc_timestamp


def _request() -> RequestRecord:
    return RequestRecord(
        request_id="r-1",
        timestamp=utc_timestamp(),
        model_name="m",
        model_version="3",
        features=("a", "b"),
        inputs=((1.0, 2.0), (3.0, 4.5)),
        outputs=("yes", "no"),
    )


def test_records_round_trip() -> None:
    request = _request()
    assert RequestRecord.from_line(request.to_line()) == request
    feedback = FeedbackRecord(request_id="r-1", timestamp=utc_timestamp(), labels=("no", "no"))
    assert FeedbackRecord.from_line(feedback.to_line()) == feedback


def test_timestamps_are_utc_with_z() -> None:
    text = utc_timestamp()
    assert text.endswith("Z")
    assert parse_timestamp(text).utcoffset() is not None
    with pytest.raises(ValueError, match="time zone"):
        parse_timestamp("2026-11-29T10:00:00")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not a JSON line"),
        ('{"kind": "feedback"}', "not a request record"),
        (
            '{"kind":"request","request_id":"x","timestamp":"2026-11-29T10:00:00Z","model_name":"m",'
            '"model_version":"1","features":["a"],"inputs":[[1,2]],"outputs":[0]}',
            "row's length",
        ),
        (
            '{"kind":"request","request_id":"x","timestamp":"2026-11-29T10:00:00Z","model_name":"m",'
            '"model_version":"1","features":["a"],"inputs":[[1]],"outputs":[0,1]}',
            "outputs and inputs",
        ),
        ('{"kind":"request","request_id":"x"}', "malformed request record"),
    ],
)
def test_bad_request_lines_are_refused(line: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RequestRecord.from_line(line)


def test_bad_feedback_lines_are_refused() -> None:
    with pytest.raises(ValueError, match="non-empty list of scalars"):
        FeedbackRecord.from_line(
            '{"kind":"feedback","request_id":"x","timestamp":"2026-11-29T10:00:00Z","labels":[]}'
        )
    with pytest.raises(ValueError, match="non-empty list of scalars"):
        FeedbackRecord.from_line(
            '{"kind":"feedback","request_id":"x","timestamp":"2026-11-29T10:00:00Z","labels":[[1]]}'
        )
