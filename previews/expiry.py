"""Time to live: parse `--ttl`, stamp `expiresAt`, and decide which previews `gc` may destroy."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_TTL = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$", re.IGNORECASE)
_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
# A preview that outlives a month is a forgotten environment, not a preview.
MAX_TTL = timedelta(days=30)


class ExpiryError(ValueError):
    """A TTL or expiresAt value that cannot be used."""


def parse_ttl(text: str) -> timedelta:
    """`90m`, `72h`, `3d` or `1w` -> a timedelta between one minute and MAX_TTL."""
    match = _TTL.match(text)
    if match is None:
        raise ExpiryError(f"--ttl {text!r}: expected a number and a unit m, h, d or w (e.g. 72h, 3d)")
    ttl = int(match.group(1)) * _UNITS[match.group(2).lower()]
    if not timedelta(minutes=1) <= ttl <= MAX_TTL:
        raise ExpiryError(f"--ttl {text!r}: must be from 1m to {MAX_TTL.days}d")
    return ttl


def format_expires_at(moment: datetime) -> str:
    """ISO-8601 UTC with a Z, to the second (what infra/config.py accepts for expiresAt)."""
    if moment.tzinfo is None:
        raise ExpiryError(f"{moment!r} has no time zone")
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def expires_at(now: datetime, ttl: timedelta) -> str:
    """The expiresAt stamp of a preview created (or updated) at `now`."""
    return format_expires_at(now + ttl)


def parse_expires_at(text: str) -> datetime:
    """An expiresAt stamp back to an aware datetime."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ExpiryError(f"expiresAt {text!r} is not an ISO-8601 time") from None
    if moment.tzinfo is None:
        raise ExpiryError(f"expiresAt {text!r} has no time zone")
    return moment


@dataclass(frozen=True)
class GcPlan:
    """What `gc` does with each preview stack."""

    expired: tuple[str, ...]
    """Past their expiresAt: destroyed."""
    alive: tuple[str, ...]
    """Not yet expired: kept."""
    unknown: tuple[str, ...]
    """No or unreadable expiresAt: kept (never destroyed on a guess) and reported."""


def select_expired(expiries: Mapping[str, str | None], now: datetime) -> GcPlan:
    """Sort stacks (name -> expiresAt as stored, or None) into expired, alive and unknown at `now`."""
    expired: list[str] = []
    alive: list[str] = []
    unknown: list[str] = []
    for name in sorted(expiries):
        raw = expiries[name]
        if not raw:
            unknown.append(name)
            continue
        try:
            moment = parse_expires_at(raw)
        except ExpiryError:
            unknown.append(name)
            continue
        (expired if moment <= now else alive).append(name)
    return GcPlan(expired=tuple(expired), alive=tuple(alive), unknown=tuple(unknown))


def humanize(delta: timedelta) -> str:
    """A short span for tables: 45s, 12m, 5h, 3d4h (sign dropped)."""
    seconds = abs(int(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    return f"{minutes}m" if minutes else f"{secs}s"
