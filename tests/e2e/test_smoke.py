"""Smoke checks and their bounded retry, against an httpx.MockTransport standing in for the platform.

Unit tests only: no cluster can run here; the checks' HTTP answers are scripted.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from e2e import smoke
from e2e.smoke import Retry, SmokeError
from tests.e2e.doubles import FakeClock


def client(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler))


def retry(clock: FakeClock, timeout: float = 20.0) -> Retry:
    return Retry(timeout=timeout, interval=5.0, sleep=clock.sleep, clock=clock)


def test_poll_retries_until_the_check_passes():
    clock = FakeClock()
    answers: list[Exception | str] = [SmokeError("not yet"), httpx.ConnectError("refused"), "ready"]

    def check() -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert smoke.poll(check, retry(clock)) == "ready"
    assert clock.sleeps == [5.0, 5.0]


def test_poll_gives_up_at_the_deadline_with_the_last_error():
    clock = FakeClock()

    def check() -> None:
        raise SmokeError(f"still down at t={clock.now:.0f}")

    with pytest.raises(SmokeError, match=r"gave up after 5 attempts in 20s: still down at t=20"):
        smoke.poll(check, retry(clock))
    assert clock.now <= 20.0


def test_poll_does_not_swallow_programming_errors():
    with pytest.raises(KeyError):
        smoke.poll(lambda: dict[str, str]()["missing"], retry(FakeClock()))


def test_a_non_200_answer_names_the_request_and_the_status():
    with (
        client(lambda _r: httpx.Response(503, text="starting")) as http,
        pytest.raises(SmokeError, match=r"GET http://localhost:5000/health -> 503: starting"),
    ):
        smoke.mlflow_health(http, "http://localhost:5000")


def test_champion_version_reads_the_alias_with_basic_auth():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200, json={"model_version": {"name": "m", "version": "3", "aliases": ["champion"]}}
        )

    with client(handler) as http:
        assert smoke.champion_version(http, "http://mlflow", "m", ("admin", "pw")) == "3"
    assert seen[0].url.path == "/api/2.0/mlflow/registered-models/alias"
    assert dict(seen[0].url.params) == {"name": "m", "alias": "champion"}
    assert seen[0].headers["authorization"].startswith("Basic ")


def test_no_champion_yet_is_a_smoke_error():
    body = {"error_code": "INVALID_PARAMETER_VALUE", "message": "Registered model alias champion not found."}
    with client(lambda _r: httpx.Response(404, json=body)) as http, pytest.raises(SmokeError, match="404"):
        smoke.champion_version(http, "http://mlflow", "m", ("admin", "pw"))


def test_breast_cancer_row_has_the_thirty_features_serving_expects():
    row = smoke.breast_cancer_row()
    assert len(row) == 30
    assert all(isinstance(v, float) for v in row)


def test_predict_posts_one_row_and_checks_the_model_that_answered():
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.method == "POST"
        assert request.url.path == "/v1/predict"
        body = {"predictions": [1], "probabilities": None, "classes": None, "model_name": "other"}
        return httpx.Response(200, json={**body, "model_version": "2"})

    with client(handler) as http, pytest.raises(SmokeError, match="served by model 'other'"):
        smoke.predict(http, "http://serving", [0.0] * 30, "mlops-classifier")


def test_serving_target_must_be_up():
    targets = [
        {"labels": {"job": "serving"}, "health": "down", "lastError": "connection refused"},
        {"labels": {"job": "mlflow"}, "health": "up", "lastError": ""},
    ]
    answer = {"status": "success", "data": {"activeTargets": targets}}
    with client(lambda _r: httpx.Response(200, json=answer)) as http:
        with pytest.raises(SmokeError, match=r"no 'serving' target is up \(down connection refused\)"):
            smoke.target_up(http, "http://prom", "serving")
        assert smoke.target_up(http, "http://prom", "mlflow") == 1


def test_rules_must_have_loaded_groups():
    empty = {"status": "success", "data": {"groups": []}}
    with (
        client(lambda _r: httpx.Response(200, json=empty)) as http,
        pytest.raises(SmokeError, match="no rule"),
    ):
        smoke.rules_loaded(http, "http://prom")


def test_grafana_health_needs_its_database_ok():
    with (
        client(lambda _r: httpx.Response(200, json={"database": "failing"})) as http,
        pytest.raises(SmokeError, match="database is 'failing'"),
    ):
        smoke.grafana_health(http, "http://grafana")


def test_fewer_than_two_dashboards_fail():
    with (
        client(lambda _r: httpx.Response(200, json=[{"title": "Serving"}])) as http,
        pytest.raises(SmokeError, match=r"1 dashboards \(Serving\), expected >= 2"),
    ):
        smoke.dashboards(http, "http://grafana", ("admin", "pw"))


def test_an_unexpected_body_is_a_smoke_error_not_a_crash():
    with (
        client(lambda _r: httpx.Response(200, text="<html>login</html>")) as http,
        pytest.raises(SmokeError, match="unexpected body"),
    ):
        smoke.dashboards(http, "http://grafana", ("admin", "pw"))
