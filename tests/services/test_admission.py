"""Admission control: the middleware on its own (ASGI calls) and installed in the app (real model, TestClient)."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Awaitable, Callable

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, Counter
from starlette.types import Message, Receive, Scope, Send

from services.serving.admission import Admission, AdmissionLimits
from services.serving.app import create_app
from services.serving.settings import Settings
from tests.services.conftest import MemoryLoader, TinyModel, in_distribution_rows, scrape, wait_for

LIMITS = AdmissionLimits(
    max_in_flight=2, max_body_bytes=1000, max_buffered_bytes=1500, body_timeout_seconds=0.3
)
JSON_HEADERS = [(b"content-type", b"application/json")]


@dataclasses.dataclass
class Recorder:
    """Collects what the middleware sends."""

    messages: list[Message] = dataclasses.field(default_factory=list)

    async def __call__(self, message: Message) -> None:
        self.messages.append(message)

    @property
    def status(self) -> int | None:
        starts = [m for m in self.messages if m["type"] == "http.response.start"]
        return starts[0]["status"] if starts else None

    def header(self, name: bytes) -> bytes | None:
        start = next(m for m in self.messages if m["type"] == "http.response.start")
        return dict(start["headers"]).get(name)


def scope(
    path: str = "/v1/predict", method: str = "POST", headers: list[tuple[bytes, bytes]] | None = None
) -> Scope:
    return {
        "type": "http",
        "path": path,
        "method": method,
        "headers": headers if headers is not None else JSON_HEADERS,
    }


def body_receive(*chunks: bytes, delay: float = 0.0) -> Receive:
    queue = list(chunks)

    async def receive() -> Message:
        if delay:
            await asyncio.sleep(delay)
        if not queue:
            return {"type": "http.disconnect"}
        chunk = queue.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(queue)}

    return receive


async def never_receive() -> Message:
    raise AssertionError("the body must not be read")


def ok_app(
    seen: list[bytes] | None = None, gate: asyncio.Event | None = None
) -> Callable[..., Awaitable[None]]:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] == "POST":
            message = await receive()
            if seen is not None:
                seen.append(message["body"])
        if gate is not None:
            await gate.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    return app


def middleware(
    app: Callable[..., Awaitable[None]], limits: AdmissionLimits = LIMITS
) -> tuple[Admission, Counter]:
    shed = Counter("shed", "test", ("reason",), registry=CollectorRegistry())
    return Admission(app, limits, shed, exempt=["/healthz"]), shed


def shed_count(shed: Counter, reason: str) -> float:
    return shed.labels(reason)._value.get()


def test_declared_length_over_the_cap_is_413_without_reading_the_body() -> None:
    admission, _ = middleware(ok_app())
    sent = Recorder()
    asyncio.run(admission(scope(headers=[*JSON_HEADERS, (b"content-length", b"5000")]), never_receive, sent))
    assert sent.status == 413 and sent.header(b"connection") == b"close"


def test_streamed_body_over_the_cap_is_413_after_at_most_the_cap() -> None:
    seen: list[bytes] = []
    admission, _ = middleware(ok_app(seen))
    sent = Recorder()
    asyncio.run(admission(scope(), body_receive(b"x" * 600, b"x" * 600, b"x" * 600), sent))
    assert sent.status == 413 and seen == []


def test_body_route_needs_json_content_type_and_gets_415_otherwise() -> None:
    for content_type in (
        b"application/x-www-form-urlencoded",
        b"text/plain",
        b"multipart/form-data; b=1",
        None,
    ):
        admission, _ = middleware(ok_app())
        sent = Recorder()
        # No content type but a body: refused too (only a request without any body skips the check).
        headers = [(b"content-length", b"2")] if content_type is None else [(b"content-type", content_type)]
        asyncio.run(admission(scope(headers=headers), never_receive, sent))
        assert sent.status == 415, content_type
    admission, _ = middleware(ok_app())
    sent = Recorder()
    asyncio.run(admission(scope(headers=[]), body_receive(b""), sent))
    assert sent.status == 200  # bodiless: the router answers (e.g. 405 for PUT /ping), not a 415
    admission, _ = middleware(ok_app())
    sent = Recorder()
    asyncio.run(
        admission(
            scope(headers=[(b"content-type", b"Application/JSON; charset=utf-8")]), body_receive(b"{}"), sent
        )
    )
    assert sent.status == 200


def test_slow_body_gets_408_within_the_body_timeout() -> None:
    admission, _ = middleware(ok_app())
    sent = Recorder()
    asyncio.run(asyncio.wait_for(admission(scope(), body_receive(b"{", b"}", delay=1.0), sent), timeout=5))
    assert sent.status == 408 and sent.header(b"connection") == b"close"
    assert admission.in_flight == 0 and admission.buffered == 0


def test_aborted_upload_gets_no_answer_and_never_reaches_the_app() -> None:
    seen: list[bytes] = []
    admission, _ = middleware(ok_app(seen))
    sent = Recorder()
    chunks = iter(
        [{"type": "http.request", "body": b'{"rows": [[1,', "more_body": True}, {"type": "http.disconnect"}]
    )

    async def gone() -> Message:
        return next(chunks)

    asyncio.run(admission(scope(), gone, sent))
    assert sent.messages == [] and seen == []


def test_in_flight_cap_sheds_with_503_retry_after_but_never_probes() -> None:
    async def scenario() -> tuple[Recorder, Recorder, Recorder, Admission, Counter]:
        gate = asyncio.Event()
        admission, shed = middleware(ok_app(gate=gate))
        held = [asyncio.create_task(admission(scope(), body_receive(b"{}"), Recorder())) for _ in range(2)]
        await asyncio.sleep(0.05)
        refused, probe = Recorder(), Recorder()
        await admission(scope(), never_receive, refused)
        probe_task = asyncio.create_task(admission(scope("/healthz", "GET", []), never_receive, probe))
        await asyncio.sleep(0.05)
        gate.set()
        await asyncio.gather(*held, probe_task)
        after = Recorder()
        await admission(scope(), body_receive(b"{}"), after)
        return refused, probe, after, admission, shed

    refused, probe, after, admission, shed = asyncio.run(scenario())
    assert refused.status == 503 and refused.header(b"retry-after") == b"1"
    assert shed_count(shed, "in_flight") == 1
    assert probe.status == 200 and after.status == 200 and admission.in_flight == 0


def test_buffered_bytes_budget_sheds_instead_of_holding_more_bodies() -> None:
    async def scenario() -> tuple[list[int | None], Counter, Admission]:
        gate = asyncio.Event()
        limits = dataclasses.replace(LIMITS, max_in_flight=10)
        admission, shed = middleware(ok_app(gate=gate), limits)
        headers = [*JSON_HEADERS, (b"content-length", b"800")]
        first = Recorder()
        task = asyncio.create_task(admission(scope(headers=headers), body_receive(b"x" * 800), first))
        await asyncio.sleep(0.05)
        second = Recorder()
        await admission(scope(headers=headers), never_receive, second)
        gate.set()
        await task
        return [first.status, second.status], shed, admission

    statuses, shed, admission = asyncio.run(scenario())
    assert statuses == [200, 503] and shed_count(shed, "buffered_bytes") == 1 and admission.buffered == 0


# --- installed in the app -------------------------------------------------------------------------------


@dataclasses.dataclass
class GatedEstimator:
    """Wraps the real estimator; predict_proba waits until the test opens the gate (holds requests in flight)."""

    inner: object
    gate: threading.Event
    entered: threading.Event

    @property
    def classes_(self) -> object:
        return self.inner.classes_  # type: ignore[attr-defined]

    def predict_proba(self, matrix: object) -> object:
        self.entered.set()
        assert self.gate.wait(timeout=10)
        return self.inner.predict_proba(matrix)  # type: ignore[attr-defined]


def test_app_sheds_predict_over_the_in_flight_cap_and_counts_it(tiny_model: TinyModel) -> None:
    gate, entered = threading.Event(), threading.Event()
    gated = TinyModel(
        estimator=GatedEstimator(tiny_model.estimator, gate, entered), features=tiny_model.features
    )  # type: ignore[arg-type]
    settings = Settings(reload_interval_seconds=0.05, retry_initial_seconds=0.02, max_in_flight=1)
    with TestClient(create_app(settings, MemoryLoader(model=gated))) as client:
        wait_for(lambda: client.get("/readyz").status_code == 200)
        rows = in_distribution_rows(tiny_model, 3)
        first: list[int] = []
        worker = threading.Thread(
            target=lambda: first.append(client.post("/v1/predict", json={"rows": rows}).status_code)
        )
        worker.start()
        assert entered.wait(timeout=10)
        shed = client.post("/v1/predict", json={"rows": rows})
        assert client.get("/healthz").status_code == 200  # probes are never shed
        gate.set()
        worker.join(timeout=10)
        assert first == [200]
        assert shed.status_code == 503 and shed.headers["retry-after"] == "1"
        metrics = scrape(client)
        assert 'mlops_http_requests_shed_total{reason="in_flight"} 1.0' in metrics
        assert 'mlops_http_requests_total{method="POST",route="/v1/predict",status="503"} 1.0' in metrics


def test_app_sheds_when_the_prediction_queue_is_full(tiny_model: TinyModel) -> None:
    gate, entered = threading.Event(), threading.Event()
    gated = TinyModel(
        estimator=GatedEstimator(tiny_model.estimator, gate, entered), features=tiny_model.features
    )  # type: ignore[arg-type]
    settings = Settings(reload_interval_seconds=0.05, retry_initial_seconds=0.02, max_queued_rows=5)
    with TestClient(create_app(settings, MemoryLoader(model=gated))) as client:
        wait_for(lambda: client.get("/readyz").status_code == 200)
        statuses: list[int] = []

        def post(n: int) -> None:
            statuses.append(
                client.post("/v1/predict", json={"rows": in_distribution_rows(tiny_model, n)}).status_code
            )

        busy = threading.Thread(target=post, args=(2,))  # taken by the worker: computing, not queued
        busy.start()
        assert entered.wait(timeout=10)
        queued = threading.Thread(target=post, args=(4,))  # queued behind it (4 of 5 rows)
        queued.start()
        wait_for(lambda: client.app.state.batcher.queued_rows == 4)  # type: ignore[attr-defined]
        over = client.post("/v1/predict", json={"rows": in_distribution_rows(tiny_model, 2)})
        gate.set()
        busy.join(timeout=10)
        queued.join(timeout=10)
        assert sorted(statuses) == [200, 200]
        assert over.status_code == 503 and over.headers["retry-after"] == "1"
        assert 'mlops_http_requests_shed_total{reason="queued_rows"} 1.0' in scrape(client)


def test_readyz_503_carries_retry_after(loader: MemoryLoader, client_factory) -> None:
    loader.registry_up = False
    client = client_factory(loader)
    response = client.get("/readyz")
    assert response.status_code == 503 and response.headers["retry-after"] == "5"


def test_tiny_rows_body_is_refused_before_parsing_by_the_value_budget(
    loader: MemoryLoader, client_factory
) -> None:
    client = client_factory(loader)  # 50 rows x 4 features: a budget of 200 values
    wait_for(lambda: client.get("/readyz").status_code == 200)
    body = b'{"rows": [' + b",".join([b"[0]"] * 201) + b"]}"
    response = client.post("/v1/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["msg"] == "at most 50 rows of 4 values per request"
    full = {"rows": in_distribution_rows(loader.model, 50)}
    assert client.post("/v1/predict", json=full).status_code == 200  # exactly at the budget: served


@pytest.mark.parametrize("names", [("a", "b"), ("a,b", "c,d,e")])
def test_value_budget_is_exact_for_valid_bodies(names: tuple[str, ...]) -> None:
    import json

    from services.serving.bounds import exceeds_budget, value_budget

    rows = [dict.fromkeys(names, 1.5) for _ in range(7)]
    body = json.dumps({"rows": rows}).encode()
    assert not exceeds_budget(body, value_budget(7, names))
    assert exceeds_budget(body, value_budget(6, names))


def test_chunked_body_counts_against_the_budget_until_the_app_is_done() -> None:
    async def scenario() -> tuple[int, int | None, Admission]:
        gate = asyncio.Event()
        limits = dataclasses.replace(LIMITS, max_in_flight=10)
        admission, _ = middleware(ok_app(gate=gate), limits)
        first = Recorder()  # no Content-Length: nothing reserved up front
        task = asyncio.create_task(admission(scope(), body_receive(b"x" * 500, b"x" * 500), first))
        await asyncio.sleep(0.05)
        held = admission.buffered
        second = Recorder()
        await admission(scope(headers=[*JSON_HEADERS, (b"content-length", b"800")]), never_receive, second)
        gate.set()
        await task
        return held, second.status, admission

    held, second, admission = asyncio.run(scenario())
    assert held == 1000 and second == 503 and admission.buffered == 0


def test_app_refuses_form_and_text_posts_that_need_no_cors_preflight(
    loader: MemoryLoader, client_factory
) -> None:
    client = client_factory(loader)
    wait_for(lambda: client.get("/readyz").status_code == 200)
    body = '{"rows": [[5.0, 3.0, 1.5, 0.2]]}'
    for content_type in (
        "application/x-www-form-urlencoded",
        "text/plain",
        "multipart/form-data; boundary=x",
    ):
        response = client.post("/v1/predict", content=body, headers={"content-type": content_type})
        assert response.status_code == 415, content_type
        assert response.json() == {"detail": "content-type must be application/json"}
    assert (
        client.post("/v1/predict", content=body, headers={"content-type": "application/json"}).status_code
        == 200
    )
