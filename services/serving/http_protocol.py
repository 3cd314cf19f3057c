"""uvicorn's h11 protocol with a deadline for the request head, which uvicorn itself does not have.

uvicorn times out idle keep-alive connections, but a connection that sends part of a request head and then
stalls (slowloris) is kept forever, holding a file descriptor and a slot of `limit_concurrency`, which
covers the probes too. Body reads have their own deadline in the admission middleware.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


class HeadTimeoutH11Protocol(H11Protocol):
    """Closes a connection that has not sent a complete request head within `head_timeout` seconds."""

    head_timeout: float = 10.0
    """Set per server by `with_head_timeout`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def on_response_complete(self) -> None:
        # The next request on this connection gets its own deadline (keep-alive idling is uvicorn's).
        self._arm_head_timer()
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out, self.cycle)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self, cycle_when_armed: object) -> None:
        # A new cycle means a complete head arrived after arming: that request is not ours to cut.
        if self.cycle is cycle_when_armed and not self.transport.is_closing():
            if self.conn.our_state != h11.ERROR:
                with contextlib.suppress(h11.LocalProtocolError):
                    self.conn.send(h11.ConnectionClosed())
            self.transport.close()


def with_head_timeout(seconds: float) -> type[HeadTimeoutH11Protocol]:
    """A protocol class for uvicorn's `http=` with this head deadline."""
    return type("HeadTimeoutH11", (HeadTimeoutH11Protocol,), {"head_timeout": seconds})
