"""Pure-ASGI middleware: request ids, body-size limit, per-route metrics and a log line per request."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.serving.logs import request_id
from services.serving.metrics import ServingMetrics

log = logging.getLogger("serving.http")


class ServingMiddleware:
    """Wraps the app: one place for cross-cutting request handling (cheaper than BaseHTTPMiddleware)."""

    def __init__(
        self, app: ASGIApp, metrics: ServingMetrics, routes: Iterable[str], max_body_bytes: int
    ) -> None:
        self.app = app
        self.metrics = metrics
        # Unknown paths share one label so scanners cannot blow up metric cardinality.
        self.routes = frozenset(routes)
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = _request_id(scope)
        token = request_id.set(rid)
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            if scope["method"] in {"POST", "PUT", "PATCH"}:
                body = await self._read_body(receive)
                if body is None:
                    status = 413
                    await _json_response(
                        send_wrapper, 413, {"detail": f"request body larger than {self.max_body_bytes} bytes"}
                    )
                    return
                receive = _replay(body, receive)
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope["path"] if scope["path"] in self.routes else "other"
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

    async def _read_body(self, receive: Receive) -> bytes | None:
        """The whole body, or None as soon as it exceeds the limit (never buffers more than that)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _request_id(scope: Scope) -> str:
    for key, value in scope.get("headers", []):
        if key == b"x-request-id" and 0 < len(value) <= 128:
            return str(value.decode("latin-1"))
    return uuid.uuid4().hex


def _replay(body: bytes, original: Receive) -> Receive:
    """Hand the buffered body to the app once, then pass through (so disconnects still arrive)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return await original()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _json_response(send: Send, status: int, payload: object) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
