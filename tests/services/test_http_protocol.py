"""The bounded HTTP protocol in a real uvicorn server (both event loops it can run on), with a bare ASGI app.

The app stands in for serving's admission: it refuses a request without reading its body, or reads it whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from services.serving.http_protocol import HEAD_READ_BYTES, MAX_HEAD_BYTES, bounded_http
from tests.conftest import free_port

BIG = 2_000_000


class _Recorder:
    """Bytes the protocol handed to uvicorn, per server (what sat in the process's memory at some point), and
    the writes it asked of the event loop's transports (each one a system call)."""

    def __init__(self) -> None:
        self.received = 0
        self.writes = 0


class _CountingTransport:
    """The event loop's own transport, with its write calls counted."""

    def __init__(self, transport: Any, recorder: _Recorder) -> None:
        self._transport = transport
        self._recorder = recorder

    def write(self, data: bytes) -> None:
        self._recorder.writes += 1
        self._transport.write(data)

    def writelines(self, data: list[bytes]) -> None:
        self._recorder.writes += 1
        self._transport.writelines(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def _app(recorder: _Recorder) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/stream":  # two parts, the second a while after the first
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"first;", "more_body": True})
            await asyncio.sleep(0.5)
            await send({"type": "http.response.body", "body": b"second"})
            return
        if scope["path"] == "/refuse":
            await asyncio.sleep(0.3)  # time for the client's body to arrive, were it read ahead
            seen = str(recorder.received).encode()
            headers = [(b"content-length", str(len(seen)).encode()), (b"connection", b"close")]
            await send({"type": "http.response.start", "status": 503, "headers": headers})
            await send({"type": "http.response.body", "body": seen})
            return
        size = 0
        while True:
            message = await receive()
            size += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        out = str(size).encode()
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(out))]}
        )
        await send({"type": "http.response.body", "body": out})

    return app


@contextlib.contextmanager
def _serving(loop: str, head_timeout: float = 5.0) -> Iterator[tuple[int, _Recorder]]:
    recorder = _Recorder()
    protocol = bounded_http(head_timeout)
    forward = protocol.buffer_updated

    def counting(self: Any, nbytes: int) -> None:
        if not self._discarding:
            recorder.received += nbytes
        forward(self, nbytes)

    protocol.buffer_updated = counting  # type: ignore[method-assign]
    made = protocol.connection_made

    def connecting(self: Any, transport: Any) -> None:
        made(self, _CountingTransport(transport, recorder))

    protocol.connection_made = connecting  # type: ignore[method-assign]
    port = free_port()
    config = uvicorn.Config(
        _app(recorder),
        host="127.0.0.1",
        port=port,
        http=protocol,
        loop=loop,
        log_config=None,  # type: ignore[arg-type]
        timeout_keep_alive=60,  # longer than any head deadline here: a close is the head deadline's
    )
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not instance.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield port, recorder
    finally:
        instance.should_exit = True
        thread.join(10)


@pytest.fixture(params=["asyncio", "uvloop"])
def server(request: pytest.FixtureRequest) -> Iterator[tuple[int, _Recorder]]:
    with _serving(request.param) as served:
        yield served


def _exchange(port: int, path: str, size: int, headers: bytes = b"") -> bytes:
    """Send a request with a body of `size` bytes; the whole response (head and body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        head = f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {size}\r\n".encode() + headers + b"\r\n"
        sock.sendall(head + b"x" * size)  # returns once the server has taken (or discarded) every byte
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
            response_head, _, body = answer.partition(b"\r\n\r\n")
            length = [
                line for line in response_head.split(b"\r\n") if line.lower().startswith(b"content-length")
            ]
            if length and len(body) == int(length[0].split(b":")[1]):
                break
        return answer


def test_a_refused_body_is_not_read_ahead_and_the_client_still_gets_the_answer(
    server: tuple[int, _Recorder],
) -> None:
    port, _ = server
    answer = _exchange(port, "/refuse", 10 * BIG)
    assert answer.startswith(b"HTTP/1.1 503"), answer[:100]
    # What the app saw buffered when it refused: the head's read, not the megabytes the client was sending.
    buffered_when_refused = int(answer.split(b"\r\n\r\n", 1)[1])
    assert buffered_when_refused <= HEAD_READ_BYTES


def test_a_body_the_app_reads_arrives_whole(server: tuple[int, _Recorder]) -> None:
    port, _ = server
    for size in (10, BIG):
        answer = _exchange(port, "/echo", size)
        assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(str(size).encode()), answer[-40:]


def test_a_request_head_over_the_cap_is_refused_and_the_connection_closed(
    server: tuple[int, _Recorder],
) -> None:
    """httptools has no head limit of its own: without MAX_HEAD_BYTES a client could send headers forever."""
    port, _ = server
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /echo HTTP/1.1\r\nHost: t\r\n")
        filler = b"X-Filler: " + b"a" * 1000 + b"\r\n"
        answer = b""
        try:
            for _ in range(MAX_HEAD_BYTES // len(filler) + 2):
                sock.sendall(filler)
            while chunk := sock.recv(65536):
                answer += chunk
        except (BrokenPipeError, ConnectionResetError):
            pass
    assert answer.startswith(b"HTTP/1.1 400"), answer[:100]


def test_a_head_just_under_the_cap_is_served(server: tuple[int, _Recorder]) -> None:
    port, _ = server
    filler = b"X-Filler: " + b"a" * 1000 + b"\r\n"
    headers = filler * (MAX_HEAD_BYTES // len(filler) - 1)
    answer = _exchange(port, "/echo", 2, headers)
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"\r\n\r\n2"), answer[-40:]


def test_an_answer_leaves_in_one_write(server: tuple[int, _Recorder]) -> None:
    """uvicorn writes a response's head and body separately: two system calls and two segments for every
    small answer, unless the protocol joins them."""
    port, recorder = server
    before = recorder.writes
    for _ in range(3):
        assert _exchange(port, "/echo", 10).endswith(b"\r\n\r\n10")
    assert recorder.writes - before == 3


def test_a_streamed_part_is_not_held_for_the_next(server: tuple[int, _Recorder]) -> None:
    """Writes are joined within one turn of the loop only: a part streamed before a pause leaves at once."""
    port, _ = server
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /stream HTTP/1.1\r\nHost: t\r\n\r\n")
        started = time.monotonic()
        answer = b""
        while b"first;" not in answer:
            answer += sock.recv(65536)
        first_after = time.monotonic() - started
        while not answer.endswith(b"0\r\n\r\n"):
            answer += sock.recv(65536)
        whole_after = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 200") and b"second" in answer
    assert first_after < 0.3 <= whole_after, (first_after, whole_after)


def _closed_after(sock: socket.socket) -> float:
    """Seconds until the server closes sock (it answers nothing)."""
    started = time.monotonic()
    assert sock.recv(65536) == b""
    return time.monotonic() - started


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_an_incomplete_head_is_cut_at_the_deadline_a_whole_one_is_not(loop: str) -> None:
    """Silent after connecting, a head stalled midway (also the second on a keep-alive connection): closed
    at the head deadline. A head that trickles in within it is served."""
    with _serving(loop, head_timeout=0.6) as (port, _):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as silent:
            assert 0.4 < _closed_after(silent) < 3
        with socket.create_connection(("127.0.0.1", port), timeout=10) as stalled:
            stalled.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nCont")
            assert 0.4 < _closed_after(stalled) < 3
        with socket.create_connection(("127.0.0.1", port), timeout=10) as kept:
            for _ in range(2):  # whole heads, the second after longer than the deadline: served
                kept.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nab")
                assert kept.recv(65536).endswith(b"\r\n\r\n2")
                time.sleep(0.8)
            kept.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nCont")
            assert 0.4 < _closed_after(kept) < 3
        with socket.create_connection(("127.0.0.1", port), timeout=10) as trickled:
            for part in (b"POST /echo HTTP/1.1\r\n", b"Host: t\r\nContent-Length: 2\r\n", b"\r\nab"):
                trickled.sendall(part)
                time.sleep(0.15)
            assert trickled.recv(65536).endswith(b"\r\n\r\n2")
