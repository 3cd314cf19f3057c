"""A real Alertmanager delivers drift alerts to the real retrain trigger only with the bearer token file."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import uvicorn
import yaml

from devloop.monitoring_stack import alertmanager_binary
from devloop.process import ManagedProcess
from mlops_contract.names import Route
from monitoring.alertmanager_config import alertmanager_config
from services.retrain_trigger.app import create_app
from services.retrain_trigger.episodes import Episode
from services.retrain_trigger.guard import GuardSettings
from tests.conftest import free_port

pytestmark = pytest.mark.skipif(alertmanager_binary() is None, reason="alertmanager not installed")
TOKEN = "alertmanager-to-trigger"


class Recorder:
    def __init__(self) -> None:
        self.started: list[Episode] = []

    def start(self, episode: Episode) -> str:
        self.started.append(episode)
        return "job"


@pytest.fixture
def trigger() -> Iterator[tuple[str, Recorder]]:
    backend = Recorder()
    port = free_port()
    app = create_app(backend, guard=GuardSettings(Route.ALERTS, token=TOKEN))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", backend
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def run_alertmanager(tmp_path: Path, trigger_url: str, token_file: Path | None) -> ManagedProcess:
    port = free_port()
    config = tmp_path / "alertmanager.yml"
    document = alertmanager_config(trigger_url, token_file=str(token_file) if token_file else None)
    config.write_text(yaml.safe_dump(document))
    binary = alertmanager_binary()
    assert binary is not None
    return ManagedProcess(
        name="alertmanager",
        argv=[
            binary,
            f"--config.file={config}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        ready_url=f"http://127.0.0.1:{port}/-/ready",
        log_path=tmp_path / "alertmanager.log",
    )


def fire(alertmanager: ManagedProcess) -> None:
    base = alertmanager.ready_url.removesuffix("/-/ready")
    alert = {
        "labels": {"alertname": "FeatureDrift", "action": "retrain"},
        "startsAt": datetime.now(UTC).isoformat(),
    }
    httpx.post(f"{base}/api/v2/alerts", json=[alert], timeout=5).raise_for_status()


@pytest.mark.parametrize("with_token", [True, False])
def test_alertmanager_reaches_the_trigger_only_with_the_token_file(
    tmp_path: Path, trigger: tuple[str, Recorder], with_token: bool
) -> None:
    url, backend = trigger
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")  # as a Secret volume may hold it: Alertmanager trims it
    alertmanager = run_alertmanager(tmp_path, url, token_file if with_token else None).start()
    try:
        alertmanager.wait_ready(timeout=30)
        fire(alertmanager)
        deadline = time.monotonic() + (20 if with_token else 8)
        while not backend.started and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        alertmanager.stop()
    log = (tmp_path / "alertmanager.log").read_text()
    if with_token:
        assert [e.alertname for e in backend.started] == ["FeatureDrift"], log
    else:
        assert backend.started == []
        assert "401" in log, log
