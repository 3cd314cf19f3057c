"""uvicorn's httptools protocol, bounded where uvicorn is not: the request head's size and time, buffering.

- **The parser.** httptools (llhttp, in C) rather than h11 (pure Python): h11 cost about a fifth of the event
  loop's time per small request, which is the whole budget of the 1-row latency target. httptools has no
  cap on a request head, so one is added here (h11's was 16 KiB).
- **Head deadline.** uvicorn times out idle keep-alive connections, but a connection that sends part of a
  request head and then stalls (slowloris) is kept forever, holding a file descriptor and a slot of
  `limit_concurrency`, which covers the probes too. Body reads have their own deadline in the admission
  middleware.
- **Nothing is read ahead of admission.** The event loop reads up to 256 KiB per socket read and uvicorn
  keeps reading a body until 64 KiB are buffered, whether or not the app wants it: in a burst of 1,024
  connections with 190 KB bodies most bodies were in memory before admission (services/serving/admission.py)
  had seen their requests (measured: peak RSS +167 MiB while all but 18 were shed). Here a connection reads
  at most HEAD_READ_BYTES unless the app is reading a body, and stops reading while body bytes it holds are
  unread by the app. What the app never asks for (a shed request's body) stays in the kernel, so before
  admission every connection holds at most HEAD_READ_BYTES here, max_connections x 16 KiB in all. A body
  that arrived whole with its head (any small request) needs no pause: the fast path costs nothing extra.
- **Lingering close.** Closing a socket with unread input makes the kernel answer with a reset, and a client
  still sending its body then loses the 503 it was sent. A connection closed mid-body first half-closes (the
  answer and a FIN go out), then reads and discards the rest for up to `linger_seconds`.
- **One write per answer.** What the protocol writes in one turn of the loop (a response's head and body)
  leaves in one system call and one segment, not two.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEAD_READ_BYTES = 16 * 1024
"""Largest read while no body is being read: a request head is smaller (MAX_HEAD_BYTES)."""
MAX_HEAD_BYTES = 16 * 1024
"""Largest request line plus headers (h11's limit); a longer head gets 400 and the connection is closed."""
BODY_READ_BYTES = 256 * 1024
"""Largest read once the app is reading the body (what the event loop would read anyway)."""
LINGER_SECONDS = 2.0


class HeadTooLarge(ValueError):
    """Raised from a parser callback: httptools stops parsing and uvicorn answers 400 and closes."""


class HeadTimeoutProtocol(HttpToolsProtocol):
    """Closes a connection that has not sent a complete request head within `head_timeout` seconds of
    connecting or of the head's first byte, and refuses a head over MAX_HEAD_BYTES.

    The deadline is armed only while a head is incomplete after a read: a head that arrives whole in one
    read, as almost every one does, costs no timer. An idle keep-alive connection is uvicorn's to time out.
    """

    head_timeout: float = 10.0
    """Set per server by `bounded_http`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_bytes = 0
        self._in_head = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()  # a client that connects and sends nothing

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._in_head:
            if self._head_timer is None:
                self._arm_head_timer()
        elif self._head_timer is not None:
            self._cancel_head_timer()

    def on_message_begin(self) -> None:
        self._head_bytes = 0
        self._in_head = True
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)  # ": " and CRLF
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def _count_head(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > MAX_HEAD_BYTES:
            raise HeadTooLarge(f"request head over {MAX_HEAD_BYTES} bytes")

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.close()


class BoundedReadProtocol(asyncio.BufferedProtocol):
    """Wraps uvicorn's protocol: chooses how much each socket read may bring in, and closes lingering.

    A BufferedProtocol, so the protocol (not the event loop) sizes every read; the buffers are shared by all
    connections of a server, which is safe because the loop runs one read callback at a time. uvloop uses
    the buffered path only for protocols that are not also `asyncio.Protocol`, hence a wrapper rather than a
    subclass of uvicorn's protocol.
    """

    inner_class: type[HeadTimeoutProtocol] = HeadTimeoutProtocol
    linger_seconds: float = LINGER_SECONDS
    loop: asyncio.AbstractEventLoop
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
        self.loop = asyncio.get_running_loop()
        self.inner.connection_made(cast(asyncio.Transport, _LingeringTransport(self._transport, self)))

    def get_buffer(self, sizehint: int) -> memoryview:  # noqa: ARG002 (the size is ours to choose)
        # Large reads for a body the app asked for, or one being discarded (nothing of it is kept).
        large = self._discarding or self._mid_body()
        self._reading_into = memoryview(self._body_buffer if large else self._head_buffer)
        return self._reading_into

    def buffer_updated(self, nbytes: int) -> None:
        assert self._reading_into is not None
        if self._discarding:
            return
        self.inner.data_received(bytes(self._reading_into[:nbytes]))
        # Mid-body, read on only when the app asks for more (uvicorn's receive() resumes reading), also when
        # this read held no body yet: the next read is a large one.
        if self._mid_body():
            self.inner.flow.pause_reading()

    def _mid_body(self) -> bool:
        """A request is in progress and the client has more of its body to send."""
        cycle = self.inner.cycle
        return cycle is not None and cycle.more_body and not cycle.response_complete

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
        cycle = self.inner.cycle
        # more_body, not _mid_body(): uvicorn marks the response complete before it closes.
        if cycle is None or not cycle.more_body or not transport.can_write_eof():
            transport.close()
            return
        self._discarding = True
        transport.write_eof()  # after what is already queued, i.e. the response
        transport.resume_reading()
        self._linger_timer = self.loop.call_later(self.linger_seconds, transport.close)


class _LingeringTransport:
    """The transport as uvicorn's protocol sees it: writes of one loop iteration go out together, close()
    lingers, every other call passes through."""

    def __init__(self, transport: asyncio.Transport, owner: BoundedReadProtocol) -> None:
        self._transport = transport
        self._owner = owner
        self._closed = False
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        # uvicorn writes a response's head and its body separately, and each write is a send(2) at once:
        # two system calls and two segments for every small answer (measured: a write cost as much as
        # parsing the request). Held until the loop's next turn, they leave in one writev.
        if not self._pending:
            self._owner.loop.call_soon(self._flush)
        self._pending.append(data)

    def _flush(self) -> None:
        if self._pending:
            pending, self._pending = self._pending, []
            if not self._transport.is_closing():
                self._transport.writelines(pending)

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def close(self) -> None:
        self._flush()
        self._closed = True
        self._owner.close()

    def is_closing(self) -> bool:
        return self._closed or self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def bounded_http(head_timeout: float) -> type[BoundedReadProtocol]:
    """A protocol class for uvicorn's `http=`: this head deadline, bounded reads, its own read buffers."""
    inner = type("HeadTimeoutHttp", (HeadTimeoutProtocol,), {"head_timeout": head_timeout})
    return type(
        "BoundedHttp",
        (BoundedReadProtocol,),
        {
            "inner_class": inner,
            "_head_buffer": bytearray(HEAD_READ_BYTES),
            "_body_buffer": bytearray(BODY_READ_BYTES),
        },
    )
