"""Shared fixtures: free loopback ports and real MLflow servers."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devloop.mlflow_server import MlflowServerSpec, mlflow_server_process
from devloop.process import ManagedProcess


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
