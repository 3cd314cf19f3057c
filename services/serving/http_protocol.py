"""uvicorn's h11 protocol, bounded where uvicorn is not: a deadline for the request head, and buffering.

- **Head deadline.** uvicorn times out idle keep-alive connections, but a connection that sends part of a
  request head and then stalls (slowloris) is kept forever, holding a file descriptor and a slot of
  `limit_concurrency`, which covers the probes too. Body reads have their own deadline in the admission
  middleware.
- **Nothing is read ahead of admission.** The event loop reads up to 256 KiB per socket read and uvicorn
  keeps reading a body until 64 KiB are buffered, whether or not the app wants it: in a burst of 1,024
  connections with 190 KB bodies most bodies were in memory before admission (services/serving/admission.py)
  had seen their requests (measured: peak RSS +167 MiB while all but 18 were shed). Here a connection reads
  at most HEAD_READ_BYTES until its request is in progress, then stops reading while body bytes it holds are
  unread by the app. What the app never asks for (a shed request's body) stays in the kernel, so before
  admission every connection holds at most HEAD_READ_BYTES here, max_connections x 16 KiB in all.
- **Lingering close.** Closing a socket with unread input makes the kernel answer with a reset, and a client
  still sending its body then loses the 503 it was sent. A connection closed mid-body first half-closes (the
  answer and a FIN go out), then reads and discards the rest for up to `linger_seconds`.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, cast

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

HEAD_READ_BYTES = 16 * 1024
"""Largest read while no request is in progress: a request head is smaller (h11 refuses one over 16 KiB)."""
BODY_READ_BYTES = 256 * 1024
"""Largest read once the app is reading the body (what the event loop would read anyway)."""
LINGER_SECONDS = 2.0


class HeadTimeoutH11Protocol(H11Protocol):
    """Closes a connection that has not sent a complete request head within `head_timeout` seconds."""

    head_timeout: float = 10.0
    """Set per server by `bounded_h11`."""

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


class BoundedReadProtocol(asyncio.BufferedProtocol):
    """Wraps the h11 protocol: chooses how much each socket read may bring in, and closes lingering.

    A BufferedProtocol, so the protocol (not the event loop) sizes every read; the buffers are shared by all
    connections of a server, which is safe because the loop runs one read callback at a time. uvloop uses
    the buffered path only for protocols that are not also `asyncio.Protocol`, hence a wrapper rather than a
    subclass of uvicorn's protocol.
    """

    inner_class: type[HeadTimeoutH11Protocol] = HeadTimeoutH11Protocol
    linger_seconds: float = LINGER_SECONDS
    _head_buffer: bytearray
    _body_buffer: bytearray

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.inner = self.inner_class(*args, **kwargs)
        self._transport: asyncio.Transport | None = None
        self._reading_into: memoryview | None = None
        self._discarding = False
        self._linger_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self._transport = cast(asyncio.Transport, transport)
        self.inner.connection_made(cast(asyncio.Transport, _LingeringTransport(self._transport, self)))

    def get_buffer(self, sizehint: int) -> memoryview:  # noqa: ARG002 (the size is ours to choose)
        cycle = self.inner.cycle
        # Large reads for a body the app asked for, or one being discarded (nothing of it is kept).
        large = self._discarding or (cycle is not None and not cycle.response_complete)
        self._reading_into = memoryview(self._body_buffer if large else self._head_buffer)
        return self._reading_into

    def buffer_updated(self, nbytes: int) -> None:
        assert self._reading_into is not None
        if self._discarding:
            return
        self.inner.data_received(bytes(self._reading_into[:nbytes]))
        cycle = self.inner.cycle
        # Read on only when the app has taken what is here (uvicorn's receive() resumes reading).
        if cycle is not None and cycle.body and not cycle.response_complete:
            self.inner.flow.pause_reading()

    def eof_received(self) -> bool | None:
        if self._discarding:
            return False  # the client finished sending: close now
        self.inner.eof_received()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._linger_timer is not None:
            self._linger_timer.cancel()
            self._linger_timer = None
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def close(self) -> None:
        """Close; if the client is still sending a body, half-close and discard it for a while first."""
        transport = self._transport
        assert transport is not None
        if self._discarding or transport.is_closing():
            return
        mid_body = self.inner.conn.their_state is h11.SEND_BODY
        if not mid_body or not transport.can_write_eof():
            transport.close()
            return
        self._discarding = True
        transport.write_eof()  # after what is already queued, i.e. the response
        transport.resume_reading()
        self._linger_timer = asyncio.get_running_loop().call_later(self.linger_seconds, transport.close)


class _LingeringTransport:
    """The transport as the h11 protocol sees it: every call passes through, but close() lingers."""

    def __init__(self, transport: asyncio.Transport, owner: BoundedReadProtocol) -> None:
        self._transport = transport
        self._owner = owner
        self._closed = False

    def close(self) -> None:
        self._closed = True
        self._owner.close()

    def is_closing(self) -> bool:
        return self._closed or self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def bounded_h11(head_timeout: float) -> type[BoundedReadProtocol]:
    """A protocol class for uvicorn's `http=`: this head deadline, bounded reads, its own read buffers."""
    inner = type("HeadTimeoutH11", (HeadTimeoutH11Protocol,), {"head_timeout": head_timeout})
    return type(
        "BoundedH11",
        (BoundedReadProtocol,),
        {
            "inner_class": inner,
            "_head_buffer": bytearray(HEAD_READ_BYTES),
            "_body_buffer": bytearray(BODY_READ_BYTES),
        },
    )
