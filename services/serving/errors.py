"""Validation errors as the API reports them: where and what, never the submitted value."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def summarize_errors(
    errors: Sequence[Any], limit: int = 10, prefix: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """One message per location, most specific first: union branches otherwise triple every problem."""
    by_loc: dict[tuple[str | int, ...], str] = {}
    for error in errors:
        # Union branches appear in loc as type names ("float", "list[...]"); a caller only needs the path.
        loc = prefix + tuple(
            part
            for part in error.get("loc", ())
            if not (isinstance(part, str) and (part in _BRANCHES or "[" in part))
        )
        by_loc.setdefault(loc, str(error.get("msg", "invalid value")))
    # A problem inside rows[0] makes "rows[0] should be a dictionary" (the other union branch) noise.
    specific = [loc for loc in by_loc if not any(o != loc and o[: len(loc)] == loc for o in by_loc)]
    return [{"loc": list(loc), "msg": by_loc[loc]} for loc in specific[:limit]]


_BRANCHES = frozenset({"float", "int"})


def as_message(details: Sequence[dict[str, Any]]) -> str:
    """Problems as one string, `where: what` each, for protocols whose error body is a single message."""
    return "; ".join(f"{'.'.join(str(p) for p in d['loc']) or 'body'}: {d['msg']}" for d in details)
