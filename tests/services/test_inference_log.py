"""Inference log and feedback in the app: real writer thread, real files, read back with the contract parser."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, Counter

from mlops_contract import metrics as contract
from mlops_contract.inference_log import FEEDBACK_DIR, REQUESTS_DIR, FeedbackRecord, RequestRecord
from services.serving.app import create_app
from services.serving.inference_log import InferenceLog, LogConfig
from services.serving.request_index import Entry, RequestIndex
from services.serving.settings import Settings
from tests.services.conftest import MemoryLoader, TinyModel, in_distribution_rows, scrape, wait_for


def ready(client: TestClient) -> bool:
    return client.get("/readyz").status_code == 200


def read_requests(directory: Path) -> list[RequestRecord]:
    """What a retraining reader sees: finished files only, in name (age) order."""
    return [
        RequestRecord.from_line(line)
        for path in sorted((directory / REQUESTS_DIR).glob("[!.]*.jsonl"))
        for line in path.read_text().splitlines()
    ]


def read_feedback(directory: Path) -> list[FeedbackRecord]:
    return [
        FeedbackRecord.from_line(line)
        for path in sorted((directory / FEEDBACK_DIR).glob("[!.]*.jsonl"))
        for line in path.read_text().splitlines()
    ]


def metric(client: TestClient, prefix: str) -> float:
    line = next(x for x in scrape(client).splitlines() if x.startswith(prefix))
    return float(line.split()[-1])


def log_settings(directory: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "reload_interval_seconds": 0.05,
        "retry_initial_seconds": 0.02,
        "max_batch_rows": 50,
        "max_body_bytes": 64 * 1024,
        "inference_log_dir": directory,
        "inference_log_rotate_seconds": 0.2,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def serve(loader: MemoryLoader) -> Callable[..., TestClient]:
    """Start an app with the log on; the caller closes it (closing publishes the open files)."""

    def make(settings: Settings) -> TestClient:
        client = TestClient(create_app(settings, loader))
        client.__enter__()
        wait_for(lambda: ready(client))
        return client

    return make


def test_logged_records_carry_the_response_request_id_inputs_and_outputs(
    serve, tmp_path: Path, tiny_model: TinyModel
) -> None:
    client = serve(log_settings(tmp_path))
    rows = in_distribution_rows(tiny_model, 3)
    response = client.post("/v1/predict", json={"rows": rows})
    named = client.post("/v1/predict", json={"rows": [dict(zip(tiny_model.names, rows[0], strict=True))]})
    client.__exit__(None, None, None)

    records = read_requests(tmp_path)
    assert [r.request_id for r in records] == [
        response.headers["x-request-id"],
        named.headers["x-request-id"],
    ]
    first = records[0]
    assert first.model_name == "mlops-classifier" and first.model_version == "1"
    assert first.features == tiny_model.names
    assert [list(row) for row in first.inputs] == rows
    assert list(first.outputs) == response.json()["predictions"]
    assert list(records[1].inputs[0]) == rows[0]  # named rows are logged in feature order
    assert not list((tmp_path / REQUESTS_DIR).glob(".*")), "files are published at shutdown"


def test_request_id_header_on_every_prediction_even_when_not_sampled(
    serve, tmp_path: Path, tiny_model
) -> None:
    client = serve(log_settings(tmp_path, inference_log_sample_rate=0.0))
    ids = {
        client.post("/v1/predict", json={"rows": in_distribution_rows(tiny_model, 1)}).headers["x-request-id"]
        for _ in range(5)
    }
    client.__exit__(None, None, None)
    assert len(ids) == 5
    assert read_requests(tmp_path) == []


def test_sampling_rate_is_respected(serve, tmp_path: Path, tiny_model) -> None:
    n, rate = 600, 0.25
    client = serve(log_settings(tmp_path, inference_log_sample_rate=rate))
    row = {"rows": in_distribution_rows(tiny_model, 1)}
    for _ in range(n):
        client.post("/v1/predict", json=row)
    client.__exit__(None, None, None)
    logged = len(read_requests(tmp_path))
    sigma = math.sqrt(n * rate * (1 - rate))
    assert abs(logged - n * rate) < 4 * sigma, logged  # fails by chance about once in 16,000 runs


def test_files_rotate_by_size_and_the_oldest_go_beyond_the_cap(serve, tmp_path: Path, tiny_model) -> None:
    cap, file_bytes = 64 * 1024, 8 * 1024
    client = serve(
        log_settings(
            tmp_path,
            inference_log_max_bytes=cap,
            inference_log_file_bytes=file_bytes,
            inference_log_rotate_seconds=3600,
        )
    )
    body = {"rows": in_distribution_rows(tiny_model, 10)}  # about 600 bytes a record
    ids = [client.post("/v1/predict", json=body).headers["x-request-id"] for _ in range(600)]
    client.__exit__(None, None, None)

    files = list((tmp_path / REQUESTS_DIR).iterdir())
    assert len(files) >= 4
    assert all(f.stat().st_size <= file_bytes for f in files)
    assert sum(f.stat().st_size for f in files) <= cap
    kept = [r.request_id for r in read_requests(tmp_path)]
    assert kept == ids[-len(kept) :], "the newest records survive, in order"
    assert ids[0] not in kept


def test_write_failure_is_counted_and_requests_still_answer(serve, tmp_path: Path, tiny_model) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the log directory should be")  # mkdir fails even for root
    client = serve(log_settings(blocker / "log"))
    statuses = [
        client.post("/v1/predict", json={"rows": in_distribution_rows(tiny_model, 1)}).status_code
        for _ in range(20)
    ]
    assert statuses == [200] * 20
    failed = 'mlops_inference_log_records_total{kind="requests",outcome="failed"}'
    wait_for(lambda: metric(client, failed) == 20.0)
    client.__exit__(None, None, None)


def test_a_full_queue_drops_and_counts() -> None:
    registry = CollectorRegistry()
    records = Counter("records", "", ["kind", "outcome"], registry=registry)
    config = LogConfig(Path("/nonexistent"), 1.0, 1 << 20, 1 << 16, 60.0)
    log = InferenceLog(config, RequestIndex(10, 60.0), records, queue_size=2)  # writer never started
    record = FeedbackRecord("r", "2026-01-01T00:00:00.000Z", (1,))
    for _ in range(2):
        assert not log.submit_feedback([record]).done()
    assert isinstance(log.submit_feedback([record]).exception(), OSError)
    assert registry.get_sample_value("records_total", {"kind": "feedback", "outcome": "dropped"}) == 1.0


def feedback_ready(client: TestClient) -> bool:
    return (
        client.post("/v1/feedback", json={"items": [{"request_id": "probe", "label": 0}]}).status_code != 503
    )


def test_feedback_is_validated_and_stored_beside_the_log(serve, tmp_path: Path, tiny_model) -> None:
    client = serve(log_settings(tmp_path))
    wait_for(lambda: feedback_ready(client))
    one = client.post("/v1/predict", json={"rows": in_distribution_rows(tiny_model, 1)}).headers[
        "x-request-id"
    ]
    three = client.post("/v1/predict", json={"rows": in_distribution_rows(tiny_model, 3)}).headers[
        "x-request-id"
    ]

    good = {"items": [{"request_id": one, "label": 2}, {"request_id": three, "labels": [0, 1, 1]}]}
    assert client.post("/v1/feedback", json=good).json() == {"accepted": 2}

    unknown = client.post(
        "/v1/feedback", json={"items": [{"request_id": one, "label": 1}, {"request_id": "nope", "label": 1}]}
    )
    assert unknown.status_code == 404
    assert unknown.json()["detail"][0]["loc"] == ["body", "items", 1, "request_id"]

    wrong_count = client.post("/v1/feedback", json={"items": [{"request_id": three, "labels": [0, 1]}]})
    assert wrong_count.status_code == 422
    assert wrong_count.json()["detail"][0]["loc"] == ["body", "items", 0, "labels"]
    assert "2 label(s) for a request of 3 row(s)" in wrong_count.json()["detail"][0]["msg"]

    not_a_class = client.post("/v1/feedback", json={"items": [{"request_id": one, "label": 7}]})
    assert not_a_class.status_code == 422 and "not one of the model's classes" in not_a_class.text
    a_bool = client.post("/v1/feedback", json={"items": [{"request_id": one, "label": True}]})
    assert a_bool.status_code == 422

    both = client.post("/v1/feedback", json={"items": [{"request_id": one, "label": 1, "labels": [1]}]})
    assert both.status_code == 422 and "exactly one of" in both.text
    # Not UTF-8 (schemathesis found FastAPI's undocumented 400 here): invalid JSON, the documented 422.
    garbled = client.post(
        "/v1/feedback", content=b'{"items": "\xff"}', headers={"content-type": "application/json"}
    )
    assert garbled.status_code == 422 and "not UTF-8" in garbled.text

    assert metric(client, 'mlops_feedback_items_total{outcome="accepted"}') == 2.0
    client.__exit__(None, None, None)
    stored = read_feedback(tmp_path)
    assert [(r.request_id, r.labels) for r in stored] == [(one, (2,)), (three, (0, 1, 1))]


def test_feedback_after_a_restart_finds_ids_logged_before_it(serve, tmp_path: Path, tiny_model) -> None:
    first = serve(log_settings(tmp_path))
    rid = first.post("/v1/predict", json={"rows": in_distribution_rows(tiny_model, 2)}).headers[
        "x-request-id"
    ]
    first.__exit__(None, None, None)

    second = serve(log_settings(tmp_path))
    wait_for(lambda: feedback_ready(second))
    response = second.post("/v1/feedback", json={"items": [{"request_id": rid, "labels": [1, 0]}]})
    assert response.status_code == 200, response.text
    # The rebuilt index still knows the row count.
    assert second.post("/v1/feedback", json={"items": [{"request_id": rid, "label": 1}]}).status_code == 422
    second.__exit__(None, None, None)


def test_feedback_for_an_expired_request_is_refused(serve, tmp_path: Path, tiny_model) -> None:
    client = serve(log_settings(tmp_path, feedback_max_age_seconds=0.3))
    wait_for(lambda: feedback_ready(client))
    rid = client.post("/v1/predict", json={"rows": in_distribution_rows(tiny_model, 1)}).headers[
        "x-request-id"
    ]
    wait_for(lambda: client.post("/v1/feedback", json={"items": [{"request_id": rid, "label": 0}]}).status_code
             == 404)  # fmt: skip
    response = client.post("/v1/feedback", json={"items": [{"request_id": rid, "label": 0}]})
    assert "expired" in response.json()["detail"][0]["msg"]
    client.__exit__(None, None, None)


def test_feedback_without_the_log_says_it_is_off(client_factory, loader) -> None:
    response = client_factory(loader).post("/v1/feedback", json={"items": [{"request_id": "x", "label": 1}]})
    assert response.status_code == 404
    assert "MLOPS_INFERENCE_LOG_DIR" in response.json()["detail"]


def test_log_metrics_are_in_the_contract() -> None:
    assert "mlops_inference_log_records_total" in contract.exported_series()


def test_feedback_reaching_another_replica_finds_the_id_on_the_shared_volume(
    serve, tmp_path: Path, tiny_model
) -> None:
    # Rotation far away: the record is still in replica a's file being written when b looks.
    a = serve(log_settings(tmp_path, inference_log_rotate_seconds=3600))
    b = serve(log_settings(tmp_path, inference_log_rotate_seconds=3600))
    wait_for(lambda: feedback_ready(b))
    rid = a.post("/v1/predict", json={"rows": in_distribution_rows(tiny_model, 2)}).headers["x-request-id"]
    body = {"items": [{"request_id": rid, "labels": [0, 2]}]}
    wait_for(lambda: b.post("/v1/feedback", json=body).status_code == 200, timeout=10)
    a.__exit__(None, None, None)
    b.__exit__(None, None, None)
    assert [r.request_id for r in read_feedback(tmp_path)] == [rid]


def test_the_index_is_bounded_and_its_rebuild_skips_torn_lines_and_old_requests(tmp_path: Path) -> None:
    folder = tmp_path / REQUESTS_DIR
    folder.mkdir()

    def line(rid: str, stamp: str) -> str:
        return RequestRecord(rid, stamp, "m", "3", ("a",), ((1.0,), (2.0,)), (0, 1)).to_line()

    (folder / "20260101T000000-a-1-000000.jsonl").write_text(
        line("old", "2020-01-01T00:00:00.000Z") + "\n" + line("r1", "2026-11-29T10:00:00.000Z") + "\n"
    )
    # A file another replica is still writing, its last line torn.
    (folder / ".20260101T000001-b-1-000000.jsonl").write_text(
        line("r2", "2026-11-29T10:00:01.000Z") + "\n" + line("r3", "2026-11-29T10:00:02.000Z")[:40]
    )
    index = RequestIndex(max_entries=2, max_age_seconds=86400)
    index.add("live", Entry(1, "4", 1_800_000_000.0))
    now = 1_795_953_600.0  # 2026-11-29T12:00:00Z
    assert index.rebuild(tmp_path, now) == 2
    assert index.ready.is_set()
    assert index.get("old") is None and index.get("r3") is None
    assert index.get("r1") is None, "bounded: the oldest entry fell out"
    assert index.get("r2") == Entry(2, "3", 1_795_946_401.0)  # 10:00:01Z
    assert index.get("live") is not None, "what live traffic added during the rebuild is kept"
