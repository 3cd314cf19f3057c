"""The bounded HTTP protocol in a real uvicorn server (both event loops it can run on), with a bare ASGI app.

The app stands in for serving's admission: it refuses a request without reading its body, or reads it whole.
"""

from __future__ import annotations

import asyncio
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
    """Bytes the protocol handed to uvicorn, per server (what sat in the process's memory at some point)."""

    def __init__(self) -> None:
        self.received = 0


def _app(recorder: _Recorder) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
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


@pytest.fixture(params=["asyncio", "uvloop"])
def server(request: pytest.FixtureRequest) -> Iterator[tuple[int, _Recorder]]:
    recorder = _Recorder()
    protocol = bounded_http(5.0)
    forward = protocol.buffer_updated

    def counting(self: Any, nbytes: int) -> None:
        if not self._discarding:
            recorder.received += nbytes
        forward(self, nbytes)

    protocol.buffer_updated = counting  # type: ignore[method-assign]
    port = free_port()
    config = uvicorn.Config(
        _app(recorder),
        host="127.0.0.1",
        port=port,
        http=protocol,
        loop=request.param,
        log_config=None,  # type: ignore[arg-type]
    )
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not instance.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield port, recorder
    instance.should_exit = True
    thread.join(10)


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
