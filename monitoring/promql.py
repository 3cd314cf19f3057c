"""Metric names referenced by a PromQL expression (every selector in this project carries `{...}`)."""

from __future__ import annotations

import re

_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{")
# Whole names only: `job:mlops_x:max{...}` (a recorded series) holds `mlops_x` but does not use it bare.
_BARE = re.compile(r"(?<![\w:])((?:mlops|mlflow|kube)_[a-zA-Z0-9_:]+|up)(?![\w:{])")


def metric_names(expr: str) -> set[str]:
    """Names used as `name{...}` selectors."""
    return set(_SELECTOR.findall(expr))


def bare_metric_names(expr: str) -> set[str]:
    """Metric-looking names without a `{...}` matcher (the style rule forbids them, so none go unchecked)."""
    return set(_BARE.findall(expr))
