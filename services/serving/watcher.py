"""Background task: load the aliased version (jittered, capped backoff), then poll the alias and hot-swap."""

from __future__ import annotations

import asyncio
import gc
import logging
import random
import time
from collections.abc import Callable

from services.serving.loader import ModelLoader
from services.serving.metrics import ServingMetrics
from services.serving.settings import Settings
from services.serving.state import ServingState

log = logging.getLogger("serving.watcher")


def next_delay(
    previous: float, initial: float, cap: float, rand: Callable[[], float] = random.random
) -> float:
    """Decorrelated jitter: replicas that lost the registry together do not all retry at the same moment."""
    return min(cap, initial + rand() * max(0.0, previous * 3 - initial))


class BrokenVersions:
    """Versions that failed to load, so a broken champion is not downloaded again on every poll."""

    def __init__(self, retry_after: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.retry_after = retry_after
        self._clock = clock
        self._failed_at: dict[str, float] = {}

    def skip(self, version: str) -> bool:
        """True while version failed less than retry_after ago (a later retry covers transient failures)."""
        failed_at = self._failed_at.get(version)
        return failed_at is not None and self._clock() - failed_at < self.retry_after

    def failed(self, version: str) -> None:
        """Remember a failed load; only the latest version matters (the alias moved on otherwise)."""
        self._failed_at = {version: self._clock()}


async def watch_alias(
    settings: Settings, loader: ModelLoader, state: ServingState, metrics: ServingMetrics
) -> None:
    """Run until cancelled. Never raises: a failed load keeps the old model and counts the failure."""
    delay = settings.retry_initial_seconds
    broken = BrokenVersions(settings.broken_version_retry_seconds)
    while True:
        served = state.current
        try:
            ref = await asyncio.to_thread(loader.resolve, settings.model_name, settings.model_alias)
        except Exception as exc:  # registry down or alias missing: keep serving what we have
            log.warning(
                "cannot resolve model alias",
                extra={"model": settings.model_name, "alias": settings.model_alias, "error": _short(exc)},
            )
        else:
            if (served is None or served.model.ref.version != ref.version) and not broken.skip(ref.version):
                try:
                    model = await asyncio.to_thread(loader.load, ref)
                except Exception as exc:
                    metrics.reload_failures.inc()
                    broken.failed(ref.version)
                    log.error(
                        "model load failed; keeping the current model",
                        extra={"model": ref.name, "version": ref.version, "error": _short(exc)},
                    )
                else:
                    previous = served.model.ref.version if served else None
                    state.swap(model)
                    # The model and the libraries it pulled in are long-lived: move them out of the
                    # collector's reach so full collections stay short (they showed up as p99 spikes).
                    gc.collect()
                    gc.freeze()
                    log.info(
                        "model loaded",
                        extra={
                            "model": ref.name,
                            "version": ref.version,
                            "previous_version": previous,
                            "drift_reference": model.profile is not None,
                        },
                    )
        if state.current is None:
            await asyncio.sleep(delay)
            delay = next_delay(delay, settings.retry_initial_seconds, settings.retry_max_seconds)
        else:
            delay = settings.retry_initial_seconds
            await asyncio.sleep(settings.reload_interval_seconds)


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 300 else text[:297] + "..."
