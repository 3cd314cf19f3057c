"""Pure-ASGI middleware: request ids, per-route metrics, a log line per request (body limits: admission)."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.serving.logs import request_id
from services.serving.metrics import ServingMetrics

log = logging.getLogger("serving.http")
# Status recorded for requests whose client disconnected before an answer (nginx's convention).
CLIENT_CLOSED_REQUEST = 499


class ServingMiddleware:
    """Wraps the app: one place for cross-cutting request handling (cheaper than BaseHTTPMiddleware)."""

    def __init__(self, app: ASGIApp, metrics: ServingMetrics, routes: Iterable[str]) -> None:
        self.app = app
        self.metrics = metrics
        # Unknown paths share one label so scanners cannot blow up metric cardinality.
        self.routes = frozenset(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = _request_id(scope)
        token = request_id.set(rid)
        status = 500
        answered = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                answered = True
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        returned = False
        try:
            await self.app(scope, receive, send_wrapper)
            returned = True
        finally:
            if returned and not answered:
                # Returned without answering: the client went away mid-upload (nginx's 499), not our error.
                status = CLIENT_CLOSED_REQUEST
            route = _route_label(scope, self.routes)
            elapsed = time.perf_counter() - started
            labels = (route, scope["method"], str(status))
            self.metrics.http_requests.labels(*labels).inc()
            self.metrics.http_latency.labels(*labels).observe(elapsed)
            if status >= 400:
                log.info(
                    "request",
                    extra={
                        "method": scope["method"],
                        "path": route,
                        "status": status,
                        "ms": round(elapsed * 1e3, 2),
                    },
                )
            request_id.reset(token)


def _route_label(scope: Scope, known: frozenset[str]) -> str:
    """The matched route's template (`/v2/models/{name}/infer`), so labels stay few whatever the path."""
    matched = scope.get("route")
    template = getattr(matched, "path", None)
    if isinstance(template, str):
        return template
    return scope["path"] if scope["path"] in known else "other"


def _request_id(scope: Scope) -> str:
    for key, value in scope.get("headers", []):
        if key == b"x-request-id" and 0 < len(value) <= 128:
            return str(value.decode("latin-1"))
    return uuid.uuid4().hex
