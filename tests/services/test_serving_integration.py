"""The real server (uvicorn subprocess) against a real `mlflow server` and models trained by training/."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from mlflow import MlflowClient

from devloop.process import ManagedProcess
from mlops_contract import metrics as contract
from mlops_contract.names import CHAMPION_ALIAS, Env
from tests.conftest import free_port
from training.config import ModelKind, TrainConfig
from training.train import TrainResult, train

pytestmark = pytest.mark.integration

ROW = [17.99, 10.38, 122.8, 1001.0, 0.1184, 0.2776, 0.3001, 0.1471, 0.2419, 0.07871, 1.095, 0.9053, 8.589, 153.4,
       0.006399, 0.04904, 0.05373, 0.01587, 0.03003, 0.006193, 25.38, 17.33, 184.6, 2019.0, 0.1622, 0.6656, 0.7119,
       0.2654, 0.4601, 0.1189]  # fmt: skip


def train_model(uri: str, name: str, **overrides: object) -> TrainResult:
    cfg = TrainConfig(tracking_uri=uri, model_name=name, **overrides)  # type: ignore[arg-type]
    return train(cfg, report=lambda _line: None)


def serving_process(tmp_path: Path, uri: str, name: str, port: int) -> ManagedProcess:
    env = {
        Env.TRACKING_URI: uri,
        Env.MODEL_NAME: name,
        Env.RELOAD_INTERVAL_SECONDS: "0.5",
        Env.SERVING_HOST: "127.0.0.1",
        Env.SERVING_PORT: str(port),
        Env.SERVING_METRICS_PORT: str(free_port()),
        Env.DRIFT_WINDOW: "200",
    }
    return ManagedProcess(
        name="serving",
        argv=[sys.executable, "-m", "services.serving"],
        ready_url=f"http://127.0.0.1:{port}/readyz",
        log_path=tmp_path / f"serving-{port}.log",
        env=env,
    )


@pytest.fixture
def serving(tmp_path: Path, mlflow_server: str, model_name: str) -> Iterator[tuple[str, ManagedProcess]]:
    port = free_port()
    proc = serving_process(tmp_path, mlflow_server, model_name, port)
    try:
        yield f"http://127.0.0.1:{port}", proc
    finally:
        proc.stop()


def wait_until(check, timeout: float = 60.0, interval: float = 0.25) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def served_version(url: str) -> str | None:
    response = httpx.get(f"{url}/v1/model", timeout=5)
    return response.json()["version"] if response.status_code == 200 else None


def test_registry_down_at_startup_alive_not_ready_then_ready(
    tmp_path: Path, restartable_mlflow, model_name: str
) -> None:
    spec, mlflow_proc = restartable_mlflow
    mlflow_proc.start().wait_ready(timeout=120)
    train_model(spec.url, model_name)
    mlflow_proc.stop()

    port = free_port()
    with serving_process(tmp_path, spec.url, model_name, port) as server:
        server.start()
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _status(f"{url}/healthz") == 200, timeout=60)
        assert _status(f"{url}/readyz") == 503
        assert httpx.post(f"{url}/v1/predict", json={"rows": [ROW]}, timeout=5).status_code == 503
        time.sleep(2)
        assert server.running(), server.log_tail()

        mlflow_proc.start().wait_ready(timeout=120)
        wait_until(lambda: _status(f"{url}/readyz") == 200, timeout=60)
        prediction = httpx.post(f"{url}/v1/predict", json={"rows": [ROW]}, timeout=5).json()
        assert prediction["model_version"] == "1"
        assert prediction["predictions"] == [0]


def _status(url: str) -> int:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.HTTPError:
        return 0


def test_alias_move_is_served_without_restart_and_a_broken_version_is_not(
    serving, mlflow_server: str, model_name: str, tmp_path: Path
) -> None:
    url, proc = serving
    first = train_model(mlflow_server, model_name, model=ModelKind.DECISION_TREE, max_depth=1)
    proc.start().wait_ready(timeout=90)
    assert served_version(url) == first.model_version
    pid = proc.pid

    better = train_model(mlflow_server, model_name)
    assert better.promoted
    wait_until(lambda: served_version(url) == better.model_version, timeout=30)
    assert proc.pid == pid and proc.running()

    # A third version whose artifacts cannot be loaded: register a bogus source and point the alias at it.
    client = MlflowClient(tracking_uri=mlflow_server)
    broken = client.create_model_version(
        model_name, source=f"runs:/{better.run_id}/no-such-model", run_id=better.run_id
    )
    client.set_registered_model_alias(model_name, CHAMPION_ALIAS, broken.version)
    wait_until(lambda: _metric(proc, "mlops_model_reload_failures_total") >= 1, timeout=30)
    # The broken version is remembered, not downloaded again on every poll (MLOPS_BROKEN_VERSION_RETRY_SECONDS).
    time.sleep(3)
    assert _metric(proc, "mlops_model_reload_failures_total") == 1
    assert served_version(url) == better.model_version
    assert (
        httpx.post(f"{url}/v1/predict", json={"rows": [ROW]}, timeout=5).json()["model_version"]
        == better.model_version
    )


def metrics_url(proc: ManagedProcess) -> str:
    """Where the process serves /metrics (its own listener, not the public port)."""
    return f"http://127.0.0.1:{(proc.env or {})[Env.SERVING_METRICS_PORT]}/metrics"


def _metric(proc: ManagedProcess, name: str, labels: str = "") -> float:
    for line in httpx.get(metrics_url(proc), timeout=5).text.splitlines():
        if line.startswith(name + (labels or " ")) or (not labels and line.startswith(name + "{")):
            return float(line.split()[-1])
    return float("nan")


def test_metrics_and_drift_on_the_real_server(serving, mlflow_server: str, model_name: str) -> None:
    from sklearn.datasets import load_breast_cancer

    url, proc = serving
    train_model(mlflow_server, model_name)
    proc.start().wait_ready(timeout=90)
    data = load_breast_cancer().data
    httpx.post(f"{url}/v1/predict", json={"rows": data[:200].tolist()}, timeout=10)
    calm = _metric(proc, "mlops_drift_score")
    httpx.post(f"{url}/v1/predict", json={"rows": (data[:200] * 1.6).tolist()}, timeout=10)
    drifted = _metric(proc, "mlops_drift_score")
    assert calm < 0.1 < 0.5 < drifted, (calm, drifted)

    # The public port does not serve metrics at all; the metrics listener serves nothing else.
    assert httpx.get(f"{url}/metrics", timeout=5).status_code == 404
    text = httpx.get(metrics_url(proc), timeout=5).text
    exported = {
        line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")
    }
    assert contract.exported_series() <= exported
    assert _metric(proc, "mlops_model_loaded") == 1.0


def test_sigterm_lets_in_flight_requests_finish(serving, mlflow_server: str, model_name: str) -> None:
    url, proc = serving
    train_model(mlflow_server, model_name)
    proc.start().wait_ready(timeout=90)
    body = json.dumps({"rows": [ROW] * 200}).encode()
    uploading = threading.Event()
    results: list[int] = []

    def slow_body() -> Iterator[bytes]:
        # The request is in flight (headers sent, body trickling) when SIGTERM arrives.
        for i in range(0, len(body), len(body) // 10 + 1):
            if i:
                uploading.set()
                time.sleep(0.15)
            yield body[i : i + len(body) // 10 + 1]

    def call() -> None:
        response = httpx.post(
            f"{url}/v1/predict", content=slow_body(), headers={"content-type": "application/json"}, timeout=30
        )
        results.append(response.status_code)

    worker = threading.Thread(target=call)
    worker.start()
    assert uploading.wait(timeout=10)
    assert proc.pid is not None
    os.kill(proc.pid, signal.SIGTERM)
    worker.join(timeout=30)
    assert results == [200], proc.log_tail()
    deadline = time.monotonic() + 25
    while proc.running() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not proc.running(), "server did not exit after SIGTERM"


def test_bad_setting_exits_2_naming_the_variable(tmp_path: Path) -> None:
    import subprocess

    env = {"PATH": "/usr/bin:/bin", Env.RELOAD_INTERVAL_SECONDS: "soon", "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "services.serving"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert Env.RELOAD_INTERVAL_SECONDS in result.stderr
    assert "Traceback" not in result.stderr


def test_a_taken_metrics_port_exits_naming_it_without_a_traceback(tmp_path: Path) -> None:
    import socket
    import subprocess

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            Env.TRACKING_URI: "http://127.0.0.1:9",  # never reached: the listener comes first
            Env.SERVING_METRICS_PORT: str(port),
        }
        result = subprocess.run(
            [sys.executable, "-m", "services.serving"], env=env, capture_output=True, text=True, timeout=60
        )
    assert result.returncode == 1
    assert f"cannot listen for metrics on 127.0.0.1:{port}" in result.stderr, result.stderr
    assert Env.SERVING_METRICS_PORT in result.stderr and "Traceback" not in result.stderr
