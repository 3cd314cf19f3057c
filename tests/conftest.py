"""Shared fixtures: free loopback ports and real MLflow servers."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devloop.mlflow_server import MlflowServerSpec, mlflow_server_process
from devloop.process import ManagedProcess

_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on right now, never one this session handed out before: the
    kernel may give a just-released port again, and a test taking several ports before starting anything
    got the same one twice (seen in CI: "ports must differ")."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real `mlflow server` for the session; tests isolate themselves with unique model names."""
    spec = MlflowServerSpec(state_dir=tmp_path_factory.mktemp("mlflow"), port=free_port())
    proc = mlflow_server_process(spec).start()
    try:
        proc.wait_ready(timeout=120)
        yield spec.url
    finally:
        proc.stop()


@pytest.fixture
def restartable_mlflow(tmp_path: Path) -> Iterator[tuple[MlflowServerSpec, ManagedProcess]]:
    """A private MLflow server (not started) that a test can start, stop and start again on one port."""
    spec = MlflowServerSpec(state_dir=tmp_path / "mlflow", port=free_port())
    proc = mlflow_server_process(spec)
    try:
        yield spec, proc
    finally:
        proc.stop()


@pytest.fixture
def model_name() -> str:
    """A registered-model name no other test uses."""
    return f"test-model-{uuid.uuid4().hex[:8]}"
