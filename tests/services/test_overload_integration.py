"""The real server (uvicorn subprocess, real MLflow, a model trained by training/) under overload and abuse.

Raw asyncio sockets play the clients (httpx costs too much CPU for a thousand connections on this 2-core,
shared machine). RSS is read from /proc. Timing bounds are generous on purpose (the machine is contended);
the probe timeout they guard is the pod's 3 s (infra/components/pod_security.http_probe).
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from devloop.mlflow_server import MlflowServerSpec, mlflow_server_process
from devloop.process import ManagedProcess
from mlops_contract.names import Env
from tests.conftest import free_port
from tests.services.test_serving_integration import ROW, train_model

pytestmark = pytest.mark.integration

PROBE_TIMEOUT_SECONDS = 3.0
POD_MEMORY_LIMIT_MIB = 512


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """One champion for the module: (tracking URI, model name). Its own MLflow, with a long start-up wait:
    on the shared machine SQLite migrations alone have taken over two minutes."""
    spec = MlflowServerSpec(state_dir=tmp_path_factory.mktemp("mlflow-overload"), port=free_port())
    proc = mlflow_server_process(spec).start()
    try:
        proc.wait_ready(timeout=600)
        train_model(spec.url, "overload")
        yield spec.url, "overload"
    finally:
        proc.stop()


@dataclass
class Server:
    """A running serving process and its address."""

    proc: ManagedProcess
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_mib(self) -> float:
        assert self.proc.pid is not None
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        match = re.search(r"VmRSS:\s+(\d+) kB", status)
        assert match is not None
        return int(match.group(1)) / 1024

    def metric(self, line_prefix: str) -> float:
        metrics_port = (self.proc.env or {})[Env.SERVING_METRICS_PORT]
        for line in httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text.splitlines():
            if line.startswith(line_prefix):
                return float(line.rsplit(" ", 1)[1])
        return 0.0


def start_server(tmp_path: Path, trained: tuple[str, str], **env: str) -> ManagedProcess:
    uri, name = trained
    port = free_port()
    proc = ManagedProcess(
        name="serving",
        argv=[sys.executable, "-m", "services.serving"],
        ready_url=f"http://127.0.0.1:{port}/readyz",
        log_path=tmp_path / f"serving-{port}.log",
        env={
            Env.TRACKING_URI: uri,
            Env.MODEL_NAME: name,
            Env.SERVING_HOST: "127.0.0.1",
            Env.SERVING_PORT: str(port),
            # /metrics has its own listener (services/serving/metrics_server.py).
            Env.SERVING_METRICS_PORT: str(free_port()),
            Env.LOG_LEVEL: "WARNING",
            **env,
        },
    )
    proc.port = port  # type: ignore[attr-defined]
    return proc.start()


@pytest.fixture
def server_factory(tmp_path: Path, trained: tuple[str, str]) -> Iterator:
    started: list[ManagedProcess] = []

    def make(**env: str) -> Server:
        proc = start_server(tmp_path, trained, **env)
        started.append(proc)  # before waiting, so a server that never gets ready is stopped too
        # Minutes, not seconds: a loaded machine slows the registry the first load depends on.
        proc.wait_ready(timeout=600)
        return Server(proc, proc.port)  # type: ignore[attr-defined]

    yield make
    for proc in started:
        proc.stop(timeout=30)


def post_bytes(port: int, body: bytes, content_length: int | None = None) -> bytes:
    length = len(body) if content_length is None else content_length
    head = (
        f"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    )
    return head.encode() + body


async def exchange(port: int, raw: bytes, timeout: float = 60.0) -> int:
    """Send a whole request, return the status (0: the server closed or reset before answering)."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
    except (OSError, TimeoutError):
        return 0
    try:
        writer.write(raw)
        await asyncio.wait_for(writer.drain(), timeout)
        line = await asyncio.wait_for(reader.readline(), timeout)
        return int(line.split()[1]) if line.startswith(b"HTTP/1.1") else 0
    except (OSError, TimeoutError, IndexError, ValueError):
        return 0
    finally:
        writer.close()


@dataclass
class ProbeLog:
    """/healthz latencies polled from a thread (not the attackers' event loop) while an attack runs."""

    url: str
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                # A fresh connection each time, like the kubelet.
                response = httpx.get(f"{self.url}/healthz", timeout=PROBE_TIMEOUT_SECONDS * 3)
                if response.status_code != 200:
                    self.failures.append(f"status {response.status_code}")
            except httpx.HTTPError as exc:
                self.failures.append(type(exc).__name__)
            self.latencies.append(time.monotonic() - started)
            self._stop.wait(0.1)

    def __enter__(self) -> ProbeLog:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join()

    def summary(self) -> str:
        return f"/healthz max {max(self.latencies):.2f} s over {len(self.latencies)} polls"


class RssSampler:
    """Peak RSS of the server, sampled in a thread while the test runs."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.server.rss_mib())
            time.sleep(0.02)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Burst:
    """What one burst of 1,024 connections of 1000-row requests did to a fresh server."""

    server: Server
    statuses: list[int]
    baseline: float
    peak: float
    after: float
    probes: ProbeLog


def burst_of_1024(server_factory) -> Burst:
    server = server_factory()
    body = json.dumps({"rows": [ROW] * 1000}).encode()
    raw = post_bytes(server.port, body)
    baseline = server.rss_mib()

    async def burst() -> list[int]:
        return await asyncio.gather(*(exchange(server.port, raw, timeout=120) for _ in range(1024)))

    with RssSampler(server) as rss, ProbeLog(server.url) as probes:
        statuses = asyncio.run(burst())
    after = server.rss_mib()
    print(
        f"\nburst: {statuses.count(200)} served, {statuses.count(503)} shed (503), {statuses.count(0)} closed "
        f"before an answer; RSS baseline {baseline:.0f} MiB, peak {rss.peak:.0f} MiB, after {after:.0f} MiB; "
        f"{probes.summary()}"
    )
    return Burst(server, statuses, baseline, rss.peak, after, probes)


def test_burst_of_1024_connections_of_1000_rows_stays_under_the_pod_memory_limit(server_factory) -> None:
    burst = burst_of_1024(server_factory)
    statuses = burst.statuses
    served, shed = statuses.count(200), statuses.count(503)
    assert set(statuses) <= {200, 503, 0}, sorted(set(statuses))
    assert served >= 64 and shed > 0
    assert burst.server.metric('mlops_http_requests_shed_total{reason="in_flight"}') >= shed
    # Headroom: the limit is 512 MiB; keep a fifth of it free.
    assert burst.peak < 0.8 * POD_MEMORY_LIMIT_MIB, burst.peak
    assert not burst.probes.failures, burst.probes.failures


def test_burst_of_1024_connections_keeps_healthz_within_the_probe_timeout(server_factory) -> None:
    burst = burst_of_1024(server_factory)
    assert not burst.probes.failures and max(burst.probes.latencies) < PROBE_TIMEOUT_SECONDS, burst.probes


def test_slow_heads_slow_bodies_and_huge_bodies_do_not_starve_the_probe(server_factory) -> None:
    server = server_factory(**{Env.BODY_TIMEOUT_SECONDS: "3", Env.HEADER_TIMEOUT_SECONDS: "3"})
    tiny_rows = b'{"rows": [' + b",".join([b"[0]"] * 1_000_000) + b"]}"  # 4 MiB of one-value rows
    huge = post_bytes(server.port, tiny_rows[: 4 * 1024 * 1024 - 2] + b"]}")
    slow_head = f"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nContent-Ty".encode()

    async def slow(raw: bytes, hold: float) -> tuple[int, float]:
        """Send raw, then trickle a byte a second; return the status (0: closed) and when the server ended it."""
        started = time.monotonic()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        except OSError:
            return -1, 0.0
        try:
            writer.write(raw)
            deadline = started + hold
            while time.monotonic() < deadline:
                try:
                    line = await asyncio.wait_for(reader.readline(), 1.0)
                except TimeoutError:
                    writer.write(b"1")
                    continue
                status = int(line.split()[1]) if line.startswith(b"HTTP/1.1") else 0
                return status, time.monotonic() - started
            return -2, hold  # still open when the hold ended: the server never cut it
        except OSError:
            return 0, time.monotonic() - started
        finally:
            writer.close()

    async def big_bodies(until: float) -> list[int]:
        statuses = []
        while time.monotonic() < until:
            statuses.append(await exchange(server.port, huge, timeout=30))
        return statuses

    async def attack() -> tuple[list[tuple[int, float]], list[tuple[int, float]], list[list[int]]]:
        until = time.monotonic() + 12
        bodies = [
            asyncio.create_task(slow(post_bytes(server.port, b'{"rows": [', 200_000), 20))
            for _ in range(1000)
        ]
        heads = [asyncio.create_task(slow(slow_head, 20)) for _ in range(50)]
        bigs = await asyncio.gather(*(big_bodies(until) for _ in range(32)))
        body_results = await asyncio.gather(*bodies)
        head_results = await asyncio.gather(*heads)
        return body_results, head_results, bigs

    with RssSampler(server) as rss, ProbeLog(server.url) as probes:
        body_results, head_results, bigs = asyncio.run(attack())
    big_statuses = [s for run in bigs for s in run]
    body_statuses = sorted({s for s, _ in body_results})
    print(
        f"\nabuse: slow bodies ended with {body_statuses} after at most "
        f"{max(t for _, t in body_results):.1f} s; slow heads closed after at most "
        f"{max(t for _, t in head_results):.1f} s; {len(big_statuses)} huge bodies answered "
        f"{sorted(set(big_statuses))}; RSS peak {rss.peak:.0f} MiB; {probes.summary()}"
    )
    # Every slow body is cut: 408 at the body deadline, or 503 at once when the in-flight cap is full.
    assert set(body_statuses) <= {408, 503, 0}, body_statuses
    assert max(t for _, t in body_results) < 3 + 10
    # Slow heads are closed by the head deadline (no status line: there was no request to answer).
    assert {s for s, _ in head_results} == {0} and max(t for _, t in head_results) < 3 + 10
    assert set(big_statuses) <= {422, 503, 0} and 422 in big_statuses
    assert rss.peak < 0.8 * POD_MEMORY_LIMIT_MIB, rss.peak
    assert not probes.failures and max(probes.latencies) < PROBE_TIMEOUT_SECONDS, probes


def test_aborted_upload_is_counted_as_499_not_422(server_factory) -> None:
    server = server_factory()
    body = json.dumps({"rows": [ROW] * 100}).encode()

    async def abort() -> None:
        _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(post_bytes(server.port, body)[: len(body) // 2])
        await writer.drain()
        await asyncio.sleep(0.3)
        writer.close()
        await asyncio.sleep(0.5)

    asyncio.run(abort())
    prefix = 'mlops_http_requests_total{method="POST",route="/v1/predict",status='
    assert server.metric(prefix + '"499"}') == 1.0
    assert server.metric(prefix + '"422"}') == 0.0


def test_connection_cap_answers_503_beyond_it(server_factory) -> None:
    server = server_factory(**{Env.MAX_CONNECTIONS: "16", Env.HEADER_TIMEOUT_SECONDS: "30"})

    async def scenario() -> tuple[int, int]:
        idle = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(16)]
        await asyncio.sleep(0.2)
        over = await exchange(server.port, post_bytes(server.port, json.dumps({"rows": [ROW]}).encode()), 10)
        for _reader, writer in idle:
            writer.close()
        await asyncio.sleep(0.5)
        under = await exchange(server.port, post_bytes(server.port, json.dumps({"rows": [ROW]}).encode()), 10)
        return over, under

    assert asyncio.run(scenario()) == (503, 200)
