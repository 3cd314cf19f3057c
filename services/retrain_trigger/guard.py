"""The webhook's front door: a bearer token and a body size limit, checked before FastAPI reads the body.

A pure ASGI middleware, because a FastAPI dependency runs only after the JSON body has been read and parsed:
an unauthenticated or oversized request is refused here without buffering it.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_MAX_BODY_BYTES = 1 << 20  # Alertmanager's grouped notifications are a few KiB; 1 MiB is generous


@dataclass(frozen=True)
class GuardSettings:
    """What the guard enforces on one path."""

    path: str
    """The protected route (POST only; probes and metrics stay open)."""
    token: str | None
    """Bearer token the caller must present; None turns authentication off (the local dev loop)."""
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES


class WebhookGuard:
    """401 without the bearer token, 413 above the body limit; everything else passes through."""

    def __init__(self, app: ASGIApp, settings: GuardSettings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.settings.path:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if self.settings.token is not None and not _authorized(headers, self.settings.token):
            await _reply(send, 401, "missing or wrong bearer token", {"www-authenticate": "Bearer"})
            return
        limit = self.settings.max_body_bytes
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _reply(send, 413, f"request body over {limit} bytes")
            return
        # Read the body here, at most `limit` bytes, then replay it: a chunked request has no Content-Length,
        # and FastAPI turns an exception raised while it reads the body into a 400.
        chunks: list[bytes] = []
        received = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > limit:
                await _reply(send, 413, f"request body over {limit} bytes")
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # after the body: wait for the disconnect as usual
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)


def _authorized(headers: dict[str, str], token: str) -> bool:
    scheme, _, presented = headers.get("authorization", "").partition(" ")
    # Constant-time comparison: the token must not leak through response timing.
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token.encode())


async def _reply(send: Send, status: int, detail: str, extra: dict[str, str] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in (extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
