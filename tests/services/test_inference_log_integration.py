"""The inference log on the real server (uvicorn subprocess, real MLflow, a model trained by training/):
records another process parses, feedback across a restart, a really full disk, and the latency it costs."""

from __future__ import annotations

import shutil
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sklearn.datasets import load_breast_cancer

from devloop.mlflow_server import MlflowServerSpec, mlflow_server_process
from devloop.process import ManagedProcess
from mlops_contract.inference_log import REQUESTS_DIR, RequestRecord
from mlops_contract.names import Env
from tests.conftest import free_port
from tests.services.test_serving_integration import ROW, serving_process, train_model, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `mlflow server` for this module, with more patience than the session one: on a loaded 2-core
    machine its start alone has taken over two minutes."""
    spec = MlflowServerSpec(state_dir=tmp_path_factory.mktemp("mlflow-log"), port=free_port())
    proc = mlflow_server_process(spec).start()
    try:
        proc.wait_ready(timeout=400)
        yield spec.url
    finally:
        proc.stop()


def log_env(directory: Path, **extra: str) -> dict[str, str]:
    return {
        Env.INFERENCE_LOG_DIR: str(directory),
        Env.INFERENCE_LOG_ROTATE_SECONDS: "0.5",
        **extra,
    }


def with_env(proc: ManagedProcess, env: dict[str, str]) -> ManagedProcess:
    return ManagedProcess(
        name=proc.name,
        argv=proc.argv,
        ready_url=proc.ready_url,
        log_path=proc.log_path,
        env={**proc.env, **env},
    )


def finished_records(directory: Path) -> list[RequestRecord]:
    return [
        RequestRecord.from_line(line)
        for path in sorted((directory / REQUESTS_DIR).glob("[!.]*.jsonl"))
        for line in path.read_text().splitlines()
    ]


def metric(url: str, prefix: str) -> float:
    for line in httpx.get(f"{url}/metrics", timeout=5).text.splitlines():
        if line.startswith(prefix):
            return float(line.split()[-1])
    return float("nan")


def test_real_server_logs_records_a_reader_parses_and_takes_feedback_across_a_restart(
    tmp_path: Path, mlflow_server: str, model_name: str
) -> None:
    train_model(mlflow_server, model_name)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_dir = tmp_path / "inference-log"
    proc = with_env(serving_process(tmp_path, mlflow_server, model_name, port), log_env(log_dir))
    rows = load_breast_cancer().data[:3].tolist()
    try:
        proc.start().wait_ready(timeout=90)
        response = httpx.post(f"{url}/v1/predict", json={"rows": rows}, timeout=10)
        rid = response.headers["x-request-id"]
        # Time rotation publishes the file while the server keeps running.
        wait_until(lambda: any(r.request_id == rid for r in finished_records(log_dir)), timeout=10)
        record = next(r for r in finished_records(log_dir) if r.request_id == rid)
        assert record.model_name == model_name and record.model_version == "1"
        assert [list(row) for row in record.inputs] == rows
        assert list(record.outputs) == response.json()["predictions"]
        proc.stop()

        proc.start().wait_ready(timeout=90)
        labels = {"items": [{"request_id": rid, "labels": [0, 1, 0]}]}
        wait_until(lambda: httpx.post(f"{url}/v1/feedback", json=labels, timeout=5).status_code != 503)
        assert httpx.post(f"{url}/v1/feedback", json=labels, timeout=5).json() == {"accepted": 1}
    finally:
        proc.stop()


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare(1) for a private tmpfs")
def test_a_full_disk_is_counted_and_predictions_still_answer(
    tmp_path: Path, mlflow_server: str, model_name: str
) -> None:
    train_model(mlflow_server, model_name)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_dir = tmp_path / "tiny"
    log_dir.mkdir()
    base = serving_process(tmp_path, mlflow_server, model_name, port)
    # A 64 KiB tmpfs in a private mount namespace: a real ENOSPC, no root on the host needed. The cap is set
    # far above it so the writer does not prevent the disk filling up.
    mount = f"mount -t tmpfs -o size=64k tmpfs {log_dir} && exec {sys.executable} -m services.serving"
    proc = ManagedProcess(
        name="serving-tiny-disk",
        argv=["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", mount],
        ready_url=base.ready_url,
        log_path=base.log_path,
        env={**(base.env or {}), **log_env(log_dir, **{Env.INFERENCE_LOG_MAX_BYTES: str(1 << 30)})},
    )
    try:
        proc.start().wait_ready(timeout=90)
        statuses = [
            httpx.post(f"{url}/v1/predict", json={"rows": [ROW] * 20}, timeout=10).status_code
            for _ in range(60)
        ]
        assert statuses == [200] * 60, proc.log_tail()
        failed = 'mlops_inference_log_records_total{kind="requests",outcome="failed"}'
        written = 'mlops_inference_log_records_total{kind="requests",outcome="written"}'
        wait_until(lambda: metric(url, failed) > 0, timeout=10)
        assert metric(url, written) > 0  # it wrote until the disk was full
        assert metric(url, failed) + metric(url, written) == 60
        assert "write failed" in proc.log_tail(200)
    finally:
        proc.stop()


def median_latency_ms(url: str, n: int) -> float:
    body = {"rows": [ROW]}
    timings = []
    with httpx.Client(timeout=10) as client:
        for _ in range(n):
            started = time.perf_counter()
            assert client.post(f"{url}/v1/predict", json=body).status_code == 200
            timings.append((time.perf_counter() - started) * 1e3)
    return statistics.median(timings)


def test_logging_every_request_adds_little_latency(
    tmp_path: Path, mlflow_server: str, model_name: str
) -> None:
    train_model(mlflow_server, model_name)
    figures = {}
    for mode, env in (("off", {}), ("on", log_env(tmp_path / "log"))):
        port = free_port()
        proc = with_env(serving_process(tmp_path, mlflow_server, model_name, port), env)
        try:
            proc.start().wait_ready(timeout=90)
            url = f"http://127.0.0.1:{port}"
            median_latency_ms(url, 50)  # warm-up
            figures[mode] = min(median_latency_ms(url, 300) for _ in range(3))
        finally:
            proc.stop()
    print(f"median /v1/predict latency, 1 row: log off {figures['off']:.3f} ms, on {figures['on']:.3f} ms")
    assert len(finished_records(tmp_path / "log")) == 50 + 900
    # Generous on a shared 2-core machine; the figure itself goes into the report.
    assert figures["on"] < figures["off"] * 1.5 + 1.0, figures
