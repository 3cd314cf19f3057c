"""The dev loop's check: the README's curl example must come back with predictions, or the check fails."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from devloop.config import EXAMPLE_REQUEST, DevLoopConfig
from devloop.local_platform import DevLoopError, LocalPlatform


class _Serving(BaseHTTPRequestHandler):
    status = 200
    answer: dict[str, Any] = {}
    received: list[tuple[str, bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        type(self).received.append((self.path, body))
        payload = json.dumps(type(self).answer).encode()
        self.send_response(type(self).status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def serving() -> Iterator[tuple[type[_Serving], LocalPlatform]]:
    handler = type("Handler", (_Serving,), {"received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield (
            handler,
            LocalPlatform(DevLoopConfig(serving_port=server.server_address[1]), report=lambda _: None),
        )
    finally:
        server.shutdown()
        server.server_close()


def test_the_readme_example_is_posted_and_its_predictions_returned(
    serving: tuple[type[_Serving], LocalPlatform],
) -> None:
    handler, platform = serving
    handler.answer = {"predictions": [0, 1]}
    assert platform.predict_example() == [0, 1]
    assert handler.received == [("/v1/predict", EXAMPLE_REQUEST.read_bytes())]


@pytest.mark.parametrize(
    ("status", "answer", "message"),
    [
        (422, {"detail": "rows[0]: expected 30 values"}, "422: .*expected 30 values"),
        (200, {"predictions": []}, "without predictions"),
        (503, {"detail": "no model loaded"}, "503"),
    ],
)
def test_no_predictions_fails_the_check_with_the_answer(
    serving: tuple[type[_Serving], LocalPlatform], status: int, answer: dict[str, Any], message: str
) -> None:
    handler, platform = serving
    handler.status, handler.answer = status, answer
    with pytest.raises(DevLoopError, match=message):
        platform.predict_example()


def test_serving_down_fails_the_check() -> None:
    from tests.conftest import free_port

    platform = LocalPlatform(DevLoopConfig(serving_port=free_port()), report=lambda _: None)
    with pytest.raises(DevLoopError, match="failed"):
        platform.predict_example()
