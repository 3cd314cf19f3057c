"""Serving's registry client sends its credentials only to the tracking server's own host.

A registry entry's artifact location is data anyone with write access to the registry can shape; an
`mlflow-artifacts://other-host/...` location must not make serving present its password to that host.
A real HTTP server on loopback records what arrives.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from services.serving.registry import Connection, RegistryClient, RegistryError


class Recorder(ThreadingHTTPServer):
    seen: list[tuple[str, str | None]]


class Handler(BaseHTTPRequestHandler):
    server: Recorder

    def do_GET(self) -> None:
        self.server.seen.append((self.path, self.headers.get("Authorization")))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder(("127.0.0.1", 0), Handler)
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_an_artifact_uri_naming_another_host_is_refused_and_gets_no_credentials(recorder: Recorder) -> None:
    other = f"127.0.0.1:{recorder.server_address[1]}"
    client = RegistryClient(Connection("http://localhost:9", username="serving", password="pw-1234567890"))
    with pytest.raises(
        RegistryError, match=r"names the host '127.0.0.1', not the tracking server 'localhost'"
    ):
        client.read_artifact(f"mlflow-artifacts://{other}/1/models/m-1/artifacts", "MLmodel")
    assert recorder.seen == []


def test_an_artifact_uri_naming_the_tracking_server_is_read_with_credentials(recorder: Recorder) -> None:
    here = f"127.0.0.1:{recorder.server_address[1]}"
    client = RegistryClient(Connection(f"http://{here}", username="serving", password="pw-1234567890"))
    assert client.read_artifact(f"mlflow-artifacts://{here}/1/models/m-1/artifacts", "MLmodel") == b"ok"
    assert client.read_artifact("mlflow-artifacts:/1/models/m-1/artifacts", "MLmodel") == b"ok"
    paths = [path for path, _ in recorder.seen]
    assert paths == ["/api/2.0/mlflow-artifacts/artifacts/1/models/m-1/artifacts/MLmodel"] * 2
    assert all(auth is not None and auth.startswith("Basic ") for _, auth in recorder.seen)
