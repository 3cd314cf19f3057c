"""Background task: load the aliased version with capped backoff, then poll the alias and hot-swap."""

from __future__ import annotations

import asyncio
import gc
import logging

from services.serving.loader import ModelLoader
from services.serving.metrics import ServingMetrics
from services.serving.settings import Settings
from services.serving.state import ServingState

log = logging.getLogger("serving.watcher")


async def watch_alias(
    settings: Settings, loader: ModelLoader, state: ServingState, metrics: ServingMetrics
) -> None:
    """Run until cancelled. Never raises: a failed load keeps the old model and counts the failure."""
    delay = settings.retry_initial_seconds
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
            if served is None or served.model.ref.version != ref.version:
                try:
                    model = await asyncio.to_thread(loader.load, ref)
                except Exception as exc:
                    metrics.reload_failures.inc()
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
            delay = min(delay * 2, settings.retry_max_seconds)
        else:
            delay = settings.retry_initial_seconds
            await asyncio.sleep(settings.reload_interval_seconds)


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 300 else text[:297] + "..."
