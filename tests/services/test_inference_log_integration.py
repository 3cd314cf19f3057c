"""The inference log on the real server (uvicorn subprocess, real app, real files): records another process
parses, feedback across a restart, a really full disk, and the latency the log costs.

The registry is replaced by an in-process loader (tests/services/local_serving.py says why)."""

from __future__ import annotations

import shutil
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devloop.process import ManagedProcess
from mlops_contract.inference_log import REQUESTS_DIR, RequestRecord
from mlops_contract.names import Env
from tests.conftest import free_port

pytestmark = pytest.mark.integration

ROW = [5.1, 3.5, 1.4, 0.2]
SERVER = [sys.executable, "-m", "tests.services.local_serving"]


def server(tmp_path: Path, port: int, env: dict[str, str], argv: list[str] | None = None) -> ManagedProcess:
    return ManagedProcess(
        name="serving",
        argv=argv or SERVER,
        ready_url=f"http://127.0.0.1:{port}/readyz",
        log_path=tmp_path / f"serving-{port}-{time.monotonic_ns()}.log",
        env={
            Env.SERVING_HOST: "127.0.0.1",
            Env.SERVING_PORT: str(port),
            # /metrics has its own listener (services/serving/metrics_server.py).
            Env.SERVING_METRICS_PORT: str(metrics_port(port)),
            Env.RELOAD_INTERVAL_SECONDS: "0.5",
            **env,
        },
    )


def log_env(directory: Path, **extra: str) -> dict[str, str]:
    return {Env.INFERENCE_LOG_DIR: str(directory), Env.INFERENCE_LOG_ROTATE_SECONDS: "0.5", **extra}


@pytest.fixture
def running() -> Iterator[list[ManagedProcess]]:
    procs: list[ManagedProcess] = []
    yield procs
    for proc in procs:
        proc.stop()


def start(procs: list[ManagedProcess], proc: ManagedProcess) -> ManagedProcess:
    procs.append(proc)
    proc.start().wait_ready(timeout=120)
    return proc


def wait_until(check, timeout: float = 30.0, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def finished_records(directory: Path) -> list[RequestRecord]:
    return [
        RequestRecord.from_line(line)
        for path in sorted((directory / REQUESTS_DIR).glob("[!.]*.jsonl"))
        for line in path.read_text().splitlines()
    ]


_METRICS_PORTS: dict[int, int] = {}


def metrics_port(port: int) -> int:
    """The metrics listener's port of the server on `port` (chosen once per server)."""
    return _METRICS_PORTS.setdefault(port, free_port())


def metric(url: str, prefix: str) -> float:
    port = int(url.rsplit(":", 1)[1])
    for line in httpx.get(f"http://127.0.0.1:{metrics_port(port)}/metrics", timeout=5).text.splitlines():
        if line.startswith(prefix):
            return float(line.split()[-1])
    return float("nan")


def test_real_server_logs_records_a_reader_parses_and_takes_feedback_across_a_restart(
    tmp_path: Path, running: list[ManagedProcess]
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_dir = tmp_path / "inference-log"
    first = start(running, server(tmp_path, port, log_env(log_dir)))
    rows = [ROW, [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]
    response = httpx.post(f"{url}/v1/predict", json={"rows": rows}, timeout=10)
    rid = response.headers["x-request-id"]
    # Time rotation publishes the file while the server keeps running.
    wait_until(lambda: any(r.request_id == rid for r in finished_records(log_dir)))
    record = next(r for r in finished_records(log_dir) if r.request_id == rid)
    assert record.model_version == "1"
    assert [list(row) for row in record.inputs] == rows
    assert list(record.outputs) == response.json()["predictions"]
    first.stop()

    start(running, server(tmp_path, port, log_env(log_dir)))
    labels = {"items": [{"request_id": rid, "labels": [0, 2, 1]}]}
    wait_until(lambda: httpx.post(f"{url}/v1/feedback", json=labels, timeout=5).status_code != 503)
    assert httpx.post(f"{url}/v1/feedback", json=labels, timeout=5).json() == {"accepted": 1}


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare(1) for a private tmpfs")
def test_a_full_disk_is_counted_and_predictions_still_answer(
    tmp_path: Path, running: list[ManagedProcess]
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_dir = tmp_path / "tiny"
    log_dir.mkdir()
    # A 64 KiB tmpfs in a private mount namespace: a real ENOSPC, without root on the host. The cap is set
    # far above it so the writer's own cap does not keep the disk from filling up.
    mount = f"mount -t tmpfs -o size=64k tmpfs {log_dir} && exec {' '.join(SERVER)}"
    argv = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", mount]
    env = log_env(log_dir, **{Env.INFERENCE_LOG_MAX_BYTES: str(1 << 30)})
    proc = start(running, server(tmp_path, port, env, argv))
    statuses = [
        httpx.post(f"{url}/v1/predict", json={"rows": [ROW] * 50}, timeout=10).status_code for _ in range(60)
    ]
    assert statuses == [200] * 60, proc.log_tail()
    failed = 'mlops_inference_log_records_total{kind="requests",outcome="failed"}'
    written = 'mlops_inference_log_records_total{kind="requests",outcome="written"}'
    wait_until(lambda: metric(url, failed) + metric(url, written) == 60)
    assert metric(url, written) > 0 and metric(url, failed) > 0  # it wrote until the disk was full
    assert "write failed" in proc.log_tail(400)


def median_latency_ms(url: str, n: int) -> float:
    body = {"rows": [ROW]}
    timings = []
    with httpx.Client(timeout=10) as client:
        for _ in range(n):
            started = time.perf_counter()
            assert client.post(f"{url}/v1/predict", json=body).status_code == 200
            timings.append((time.perf_counter() - started) * 1e3)
    return statistics.median(timings)


def test_logging_every_request_adds_little_latency(tmp_path: Path, running: list[ManagedProcess]) -> None:
    log_dir = tmp_path / "log"
    urls = {}
    for mode, env in (("off", {}), ("on", log_env(log_dir))):
        port = free_port()
        start(running, server(tmp_path, port, env))
        urls[mode] = f"http://127.0.0.1:{port}"
    samples: dict[str, list[float]] = {"off": [], "on": []}
    for mode in ("off", "on"):
        median_latency_ms(urls[mode], 50)  # warm-up
    for _ in range(5):  # interleaved, so load from other work on the machine hits both alike
        for mode in ("off", "on"):
            samples[mode].append(median_latency_ms(urls[mode], 100))
    off, on = min(samples["off"]), min(samples["on"])
    print(f"\nmedian /v1/predict latency, 1 row (best of 5 x 100): log off {off:.3f} ms, on {on:.3f} ms")
    wait_until(lambda: len(finished_records(log_dir)) == 50 + 500)
    # Generous on a shared 2-core machine; the figure itself goes into the report.
    assert on < off * 1.5 + 1.0, samples
