"""Pure-ASGI middleware: request ids, per-route metrics, a log line per request (body limits: admission)."""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Iterable

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.serving.logs import request_id
from services.serving.metrics import ServingMetrics

log = logging.getLogger("serving.http")
# Status recorded for requests whose client disconnected before an answer (nginx's convention).
CLIENT_CLOSED_REQUEST = 499
_COUNTER_MASK = (1 << 64) - 1


class ServingMiddleware:
    """Wraps the app: one place for cross-cutting request handling (cheaper than BaseHTTPMiddleware)."""

    def __init__(self, app: ASGIApp, metrics: ServingMetrics, routes: Iterable[str]) -> None:
        self.app = app
        self.metrics = metrics
        # Unknown paths share one label so scanners cannot blow up metric cardinality.
        self.routes = frozenset(routes)
        # The metric children per (route, method, status): `labels()` checks and locks on every call.
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        # Generated request ids: random per process (unique across replicas), then a counter; uuid4 costs
        # a system call per request. 32 hex digits, as a uuid4's hex.
        self._id_prefix = os.urandom(8).hex()
        self._id_counter = itertools.count()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = _request_id(scope) or f"{self._id_prefix}{next(self._id_counter) & _COUNTER_MASK:016x}"
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
            requests, latency = self._metrics(route, scope["method"], status)
            requests.inc()
            latency.observe(elapsed)
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

    def _metrics(self, route: str, method: str, status: int) -> tuple[Counter, Histogram]:
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:
            labels = (route, method, str(status))
            children = (self.metrics.http_requests.labels(*labels), self.metrics.http_latency.labels(*labels))
            self._children[key] = children
        return children


def _route_label(scope: Scope, known: frozenset[str]) -> str:
    """The matched route's template (`/v2/models/{name}/infer`), so labels stay few whatever the path."""
    matched = scope.get("route")
    template = getattr(matched, "path", None)
    if isinstance(template, str):
        return template
    return scope["path"] if scope["path"] in known else "other"


def _request_id(scope: Scope) -> str | None:
    """The client's id, if it sent a usable one."""
    for key, value in scope.get("headers", []):
        if key == b"x-request-id" and 0 < len(value) <= 128:
            return str(value.decode("latin-1"))
    return None
