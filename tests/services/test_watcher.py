"""Reload backoff and the memory of broken versions (pure functions and a fake clock)."""

from __future__ import annotations

import random

from services.serving.settings import Settings
from services.serving.watcher import BrokenVersions, next_delay


def test_backoff_is_jittered_and_capped_at_a_few_seconds_by_default() -> None:
    settings = Settings()
    assert settings.retry_max_seconds == 5.0
    rng = random.Random(7)  # noqa: S311 - jitter, not secrets
    delays: list[float] = []
    delay = settings.retry_initial_seconds
    for _ in range(200):
        delay = next_delay(delay, settings.retry_initial_seconds, settings.retry_max_seconds, rng.random)
        delays.append(delay)
    assert max(delays) <= 5.0 and min(delays) >= settings.retry_initial_seconds
    # Jitter: replicas that failed together spread out instead of retrying in lockstep.
    assert len({round(d, 3) for d in delays[20:]}) > 50


def test_backoff_cap_never_exceeds_the_reload_interval() -> None:
    assert Settings(reload_interval_seconds=2).retry_max_seconds == 2


def test_broken_version_is_skipped_until_retry_time_or_alias_moves() -> None:
    now = [100.0]
    broken = BrokenVersions(retry_after=300, clock=lambda: now[0])
    assert not broken.skip("3")
    broken.failed("3")
    assert broken.skip("3") and not broken.skip("4")
    now[0] += 299
    assert broken.skip("3")
    now[0] += 2
    assert not broken.skip("3")
