"""Admission control for every route: shed load early, bound request bodies in size, memory and time.

Pure ASGI, installed inside the metrics middleware so every refusal is counted by status. Probes and
/metrics are never shed: a busy server must still look alive to the kubelet and visible to Prometheus.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from prometheus_client import Counter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

JSON = "application/json"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# 503 answers tell clients when to come back; a second is long enough for a batch to drain.
RETRY_AFTER_SECONDS = 1


class ShedReason:
    """Label values of the shed counter."""

    IN_FLIGHT = "in_flight"
    BUFFERED_BYTES = "buffered_bytes"
    QUEUED_ROWS = "queued_rows"


@dataclass(frozen=True)
class AdmissionLimits:
    """What one serving process admits at once."""

    max_in_flight: int
    """Requests being read or computed at once."""
    max_body_bytes: int
    """One request body."""
    max_buffered_bytes: int
    """All request bodies held in memory at once."""
    body_timeout_seconds: float
    """Time to receive one whole body."""


class Admission:
    """ASGI middleware: in-flight cap, media type, size and memory budget, body deadline; then the app."""

    def __init__(
        self,
        app: ASGIApp,
        limits: AdmissionLimits,
        shed: Counter,
        exempt: Iterable[str],
        media_types: Mapping[str, frozenset[str]] | None = None,
    ) -> None:
        self.app = app
        self.limits = limits
        self.shed = shed
        self.exempt = frozenset(exempt)
        # Body routes accept JSON only unless listed: form and text/plain posts need no CORS preflight,
        # so accepting them would let any web page post to the API from a browser.
        self.media_types = dict(media_types or {})
        self.in_flight = 0
        self.buffered = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        has_body = scope["method"] in BODY_METHODS
        if self.in_flight >= self.limits.max_in_flight:
            await self._shed(send, ShedReason.IN_FLIGHT, close=has_body)
            return
        self.in_flight += 1
        try:
            if has_body:
                await self._with_body(scope, receive, send)
            else:
                await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1

    async def _with_body(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope["headers"])
        declared = _content_length(headers)
        if declared is not None and declared > self.limits.max_body_bytes:
            await respond(send, 413, {"detail": self._too_large()}, close=True)
            return
        accepted = self.media_types.get(scope["path"], frozenset({JSON}))
        media_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower().decode("latin-1")
        # No body at all (e.g. PUT /ping): the router answers (405), not a 415 about a body never sent.
        # /v2: Open Inference Protocol clients (tritonclient) send JSON without a content type; a browser's
        # cross-origin form post always sends one, so this opens no preflight-free path.
        bodiless = declared in (None, 0) and b"transfer-encoding" not in headers
        lenient = media_type == "" and (bodiless or scope["path"].startswith("/v2/"))
        if media_type not in accepted and not lenient:
            detail = f"content-type must be {' or '.join(sorted(accepted))}"
            await respond(send, 415, {"detail": detail}, close=True)
            return
        reserved = declared or 0
        if self.buffered + reserved > self.limits.max_buffered_bytes:
            await self._shed(send, ShedReason.BUFFERED_BYTES, close=True)
            return
        self.buffered += reserved
        held = reserved  # the body stays in memory until the app is done with it
        try:
            outcome = await self._read(receive, reserved)
            if isinstance(outcome, _Refusal):
                if outcome.status == 503:
                    await self._shed(send, ShedReason.BUFFERED_BYTES, close=True)
                elif outcome.status:
                    await respond(send, outcome.status, {"detail": outcome.detail}, close=True)
                return  # status 0: the client went away; nobody to answer
            held += outcome.grown
            await self.app(scope, _replay(outcome.body, receive), send)
        finally:
            self.buffered -= held

    async def _read(self, receive: Receive, reserved: int) -> _Body | _Refusal:
        """The whole body within the deadline, size cap and memory budget; or why not."""
        chunks: list[bytes] = []
        size = 0
        extra = 0  # bytes beyond the reservation (chunked bodies, or a wrong Content-Length)
        try:
            async with asyncio.timeout(self.limits.body_timeout_seconds):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return _Refusal(0, "client disconnected")
                    chunk: bytes = message.get("body", b"")
                    size += len(chunk)
                    if size > self.limits.max_body_bytes:
                        return _Refusal(413, self._too_large())
                    if size > reserved + extra:
                        grow = size - reserved - extra
                        if self.buffered + grow > self.limits.max_buffered_bytes:
                            return _Refusal(503, "")
                        self.buffered += grow
                        extra += grow
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        body, extra = _Body(b"".join(chunks), extra), 0  # the caller releases it now
                        return body
        except TimeoutError:
            secs = self.limits.body_timeout_seconds
            return _Refusal(408, f"request body not received within {secs:g} s")
        finally:
            self.buffered -= extra

    def _too_large(self) -> str:
        return f"request body larger than {self.limits.max_body_bytes} bytes"

    async def _shed(self, send: Send, reason: str, close: bool) -> None:
        self.shed.labels(reason).inc()
        await respond(send, 503, {"detail": "server busy, retry later"}, close=close, retry_after=True)


@dataclass(frozen=True)
class _Body:
    body: bytes
    grown: int  # bytes beyond the Content-Length reservation, now also held


@dataclass(frozen=True)
class _Refusal:
    status: int  # 0: the client disconnected
    detail: str


def _content_length(headers: Mapping[bytes, bytes]) -> int | None:
    value = headers.get(b"content-length")
    if value is None:
        return None
    try:
        return max(0, int(value))
    except ValueError:
        return None  # the HTTP parser rejects a malformed length before we see it; be lenient anyway


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


async def respond(
    send: Send, status: int, payload: object, close: bool = False, retry_after: bool = False
) -> None:
    """A small JSON response; `close` when the body was not read, so the connection cannot be reused."""
    body = json.dumps(payload).encode()
    headers = [(b"content-type", JSON.encode()), (b"content-length", str(len(body)).encode())]
    if retry_after:
        headers.append((b"retry-after", str(RETRY_AFTER_SECONDS).encode()))
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
