"""Reach the MLflow tracking server: a bounded probe before any work, so failures are quick and clear."""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from mlops_contract.names import Env
from training.config import TrainConfig


class TrackingUnavailableError(RuntimeError):
    """The tracking server did not answer; the message names the URI."""


def probe_tracking_server(cfg: TrainConfig, report: Callable[[str], None] = print) -> None:
    """GET <uri>/health (skips auth) with a few spaced tries; non-HTTP URIs (sqlite:, file:) need no probe."""
    uri = cfg.tracking_uri.rstrip("/")
    if not uri.startswith(("http://", "https://")):
        return
    last_error = ""
    for attempt in range(1, cfg.connect_attempts + 1):
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=cfg.connect_timeout_seconds) as response:  # noqa: S310
                if response.status == 200:
                    return
                last_error = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            last_error = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            last_error = str(getattr(exc, "reason", exc))
        if attempt < cfg.connect_attempts:
            delay = min(2.0 ** (attempt - 1), 5.0)
            report(
                f"tracking server {uri} not reachable ({last_error}); "
                f"retry {attempt}/{cfg.connect_attempts - 1} in {delay:.0f}s"
            )
            time.sleep(delay)
    raise TrackingUnavailableError(
        f"cannot reach the MLflow tracking server at {uri} "
        f"after {cfg.connect_attempts} attempts ({last_error})"
    )


def bound_mlflow_calls(cfg: TrainConfig) -> None:
    """Every MLflow HTTP call after the probe: cfg's timeout, cfg's retries, a short linear-ish backoff.

    MLflow's defaults (120 s timeout, 7 retries with backoff factor 2) let one call hang for minutes when the
    server dies or stalls mid-run. MLflow reads these variables on every call, so setting them here (the
    process's one edge to the library) bounds the SDK, the registry and the artifact uploads alike.
    """
    os.environ[Env.HTTP_REQUEST_TIMEOUT] = str(cfg.request_timeout_seconds)
    os.environ[Env.HTTP_REQUEST_MAX_RETRIES] = str(cfg.request_max_retries)
    os.environ[Env.HTTP_REQUEST_BACKOFF_FACTOR] = "1"
