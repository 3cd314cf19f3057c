"""TTL parsing, expiresAt stamps and gc selection (pure functions, no doubles needed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from infra.render import stack_config
from previews.expiry import (
    ExpiryError,
    expires_at,
    humanize,
    parse_expires_at,
    parse_ttl,
    select_expired,
)

NOW = datetime(2030, 1, 10, 12, 0, 0, 123456, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "ttl"),
    [("72h", timedelta(hours=72)), ("3d", timedelta(days=3)), ("90m", timedelta(minutes=90)),
     ("1w", timedelta(weeks=1)), (" 12H ", timedelta(hours=12))],
)  # fmt: skip
def test_ttls_in_minutes_hours_days_and_weeks(text: str, ttl: timedelta) -> None:
    assert parse_ttl(text) == ttl


@pytest.mark.parametrize("text", ["", "72", "h", "3 days", "-1h", "1.5h", "0m", "31d", "5y"])
def test_invalid_or_out_of_range_ttls_are_rejected_with_the_flag_named(text: str) -> None:
    with pytest.raises(ExpiryError, match="--ttl"):
        parse_ttl(text)


def test_expires_at_is_iso_utc_with_z_to_the_second() -> None:
    stamp = expires_at(NOW, timedelta(hours=72))
    assert stamp == "2030-01-13T12:00:00Z"
    assert parse_expires_at(stamp) == datetime(2030, 1, 13, 12, tzinfo=UTC)
    # ...and the platform's own config validation accepts it.
    cfg = stack_config(
        "preview-x",
        {"preview": "true", "clusterMode": "existing", "kubeContext": "kind-mlops", "expiresAt": stamp},
    )
    assert cfg.expires_at == datetime(2030, 1, 13, 12, tzinfo=UTC)


def test_non_utc_now_is_stamped_in_utc() -> None:
    local = datetime(2030, 1, 10, 16, 0, tzinfo=timezone(timedelta(hours=2)))
    assert expires_at(local, timedelta(hours=1)) == "2030-01-10T15:00:00Z"


def test_gc_selects_only_stacks_past_their_expiry() -> None:
    plan = select_expired(
        {
            "preview-old": "2030-01-10T11:59:59Z",
            "preview-exactly-now": "2030-01-10T12:00:00.123456+00:00",
            "preview-fresh": "2030-01-10T12:00:01Z",
            "preview-no-expiry": None,
            "preview-empty": "",
            "preview-garbage": "next tuesday",
            "preview-naive": "2030-01-01T00:00:00",
        },
        NOW,
    )
    assert plan.expired == ("preview-exactly-now", "preview-old")
    assert plan.alive == ("preview-fresh",)
    # Never destroyed on a guess.
    assert plan.unknown == ("preview-empty", "preview-garbage", "preview-naive", "preview-no-expiry")


@pytest.mark.parametrize(
    ("delta", "text"),
    [(timedelta(seconds=5), "5s"), (timedelta(minutes=12), "12m"), (timedelta(hours=5), "5h"),
     (timedelta(hours=5, minutes=3), "5h3m"), (timedelta(days=3, hours=4), "3d4h"),
     (timedelta(days=2), "2d"), (-timedelta(hours=3), "3h")],
)  # fmt: skip
def test_spans_are_humanized_for_the_list_table(delta: timedelta, text: str) -> None:
    assert humanize(delta) == text
