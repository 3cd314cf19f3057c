"""The webhook app: Alertmanager POSTs grouped alerts; firing `action=retrain` episodes start a retraining."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, HTTPException
from prometheus_client import CollectorRegistry, Counter, generate_latest
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from mlops_contract.names import Route
from services.retrain_trigger.backends import AlreadyStarted, AtCapacity, RetrainBackend
from services.retrain_trigger.episodes import Episode, Ledger
from services.retrain_trigger.guard import GuardSettings, WebhookGuard

log = logging.getLogger("retrain_trigger")
RETRAIN_LABEL, RETRAIN_VALUE = "action", "retrain"


class Alert(BaseModel):
    """The fields of an Alertmanager webhook alert this service reads."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    status: str
    labels: dict[str, str]
    starts_at: str = Field(alias="startsAt")
    fingerprint: str = ""


class Notification(BaseModel):
    """Alertmanager webhook payload (version 4); unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore")

    alerts: list[Alert]


def create_app(
    backend: RetrainBackend,
    ledger: Ledger | None = None,
    guard: GuardSettings | None = None,
) -> FastAPI:
    """The receiver; `backend` decides what a retraining is, `guard` who may call and how much they send."""
    ledger = ledger or Ledger()
    registry = CollectorRegistry()
    triggered = Counter(
        "mlops_retrains_triggered", "Retraining runs started by alerts.", ["alertname"], registry=registry
    )
    duplicates = Counter(
        "mlops_retrain_duplicates",
        "Notifications for an episode whose retraining already started (debounced).",
        registry=registry,
    )
    app = FastAPI(title="mlops retrain trigger", docs_url=None, redoc_url=None)

    @app.get(Route.HEALTHZ)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(Route.METRICS)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type="text/plain; version=0.0.4")

    @app.post(Route.ALERTS)
    def alerts(notification: Notification) -> dict[str, Any]:
        started, skipped = [], 0
        for alert in notification.alerts:
            if alert.status != "firing" or alert.labels.get(RETRAIN_LABEL) != RETRAIN_VALUE:
                continue
            episode = Episode(alert.labels.get("alertname", "unknown"), alert.fingerprint, alert.starts_at)
            if not ledger.claim(episode):
                duplicates.inc()
                skipped += 1
                continue
            try:
                name = backend.start(episode)
            except AlreadyStarted:
                duplicates.inc()
                skipped += 1
                continue
            except AtCapacity as exc:
                # Released: a later notification of the same episode may start it once a run has finished.
                ledger.release(episode)
                log.warning("retraining for %s not started: %s", episode.alertname, exc)
                raise HTTPException(status_code=429, detail=str(exc)) from None
            except Exception:
                # Not acknowledged: Alertmanager retries the notification, so the retrain is not lost. The
                # cause (a Kubernetes API error names objects and the service account) goes to the log only.
                ledger.release(episode)
                log.exception("starting retraining for %s failed", episode.alertname)
                raise HTTPException(
                    status_code=503, detail="could not start retraining; the cause is in the trigger's log"
                ) from None
            triggered.labels(episode.alertname).inc()
            log.info("retraining %s started for %s episode %s", name, episode.alertname, episode.key)
            started.append(name)
        return {"started": started, "debounced": skipped}

    app.add_middleware(WebhookGuard, settings=guard or GuardSettings(Route.ALERTS, token=None))
    return app
