"""Metric names referenced by a PromQL expression (every selector in this project carries `{...}`)."""

from __future__ import annotations

import re

_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{")
_BARE = re.compile(r"\b((?:mlops|mlflow|kube)_[a-zA-Z0-9_:]+|up)\b(?!\{)")


def metric_names(expr: str) -> set[str]:
    """Names used as `name{...}` selectors."""
    return set(_SELECTOR.findall(expr))


def bare_metric_names(expr: str) -> set[str]:
    """Metric-looking names without a `{...}` matcher (the style rule forbids them, so none go unchecked)."""
    return set(_BARE.findall(expr))
