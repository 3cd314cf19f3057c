"""Smoke checks against the running platform over HTTP, each retried until it passes or a deadline.

Every check takes an httpx.Client, so tests drive them with httpx.MockTransport.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import httpx
from pydantic import BaseModel, Field, RootModel, ValidationError

from mlops_contract.names import CHAMPION_ALIAS, Route

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
Auth = tuple[str, str]

MIN_DASHBOARDS = 2
BREAST_CANCER_FEATURES = 30


class SmokeError(RuntimeError):
    """A check's answer was not the expected one (retried until the deadline)."""


@dataclass(frozen=True)
class Retry:
    """How long and how often a check is retried."""

    timeout: float
    """Seconds before giving up."""
    interval: float
    """Seconds between attempts."""
    sleep: Callable[[float], None] = time.sleep
    """Waits between attempts (tests pass a fake)."""
    clock: Callable[[], float] = time.monotonic
    """Measures the deadline (tests pass a fake)."""


def poll(check: Callable[[], T], retry: Retry) -> T:
    """`check()`'s result once it stops raising SmokeError or HTTP errors; past the deadline, the last error.

    Services come up in their own time (scrapes every 15 s, rules load, Grafana provisions), so a first
    refusal is expected; the bound keeps a broken platform from hanging the run.
    """
    deadline = retry.clock() + retry.timeout
    attempts = 0
    while True:
        attempts += 1
        try:
            return check()
        except (SmokeError, httpx.HTTPError) as err:
            if retry.clock() + retry.interval > deadline:
                raise SmokeError(f"gave up after {attempts} attempts in {retry.timeout:.0f}s: {err}") from err
        retry.sleep(retry.interval)


def _expect(response: httpx.Response, status: int = 200) -> httpx.Response:
    if response.status_code != status:
        body = response.text.strip().replace("\n", " ")[:200]
        raise SmokeError(
            f"{response.request.method} {response.request.url} -> {response.status_code}: {body}"
        )
    return response


def _parse(model: type[M], response: httpx.Response) -> M:
    try:
        return model.model_validate_json(response.content)
    except ValidationError as err:
        raise SmokeError(f"{response.request.url}: unexpected body: {err.errors()[0]['msg']}") from err


class _ModelVersion(BaseModel):
    name: str
    version: str


class _AliasResponse(BaseModel):
    model_version: _ModelVersion


class _Prediction(BaseModel):
    predictions: list[object]
    model_name: str
    model_version: str


class _Target(BaseModel):
    labels: dict[str, str]
    health: str
    last_error: str = Field("", alias="lastError")


class _Targets(BaseModel):
    active_targets: list[_Target] = Field(alias="activeTargets")


class _TargetsResponse(BaseModel):
    status: str
    data: _Targets


class _RuleGroup(BaseModel):
    name: str


class _Rules(BaseModel):
    groups: list[_RuleGroup]


class _RulesResponse(BaseModel):
    status: str
    data: _Rules


class _GrafanaHealth(BaseModel):
    database: str


class _Dashboard(BaseModel):
    title: str


class _DashboardList(RootModel[list[_Dashboard]]):
    pass


def mlflow_health(client: httpx.Client, mlflow_url: str) -> None:
    """MLflow answers `/health` (no auth: it is what probes use)."""
    _expect(client.get(f"{mlflow_url}/health"))


def champion_version(client: httpx.Client, mlflow_url: str, model_name: str, auth: Auth) -> str:
    """The version behind the `champion` alias (the bootstrap Job trained and promoted one)."""
    response = _expect(
        client.get(
            f"{mlflow_url}/api/2.0/mlflow/registered-models/alias",
            params={"name": model_name, "alias": CHAMPION_ALIAS},
            auth=auth,
        )
    )
    return _parse(_AliasResponse, response).model_version.version


def serving_ready(client: httpx.Client, serving_url: str) -> None:
    """Serving's readiness probe passes (a model is loaded)."""
    _expect(client.get(f"{serving_url}{Route.READYZ}"))


def breast_cancer_row() -> list[float]:
    """Row 0 of scikit-learn's bundled breast_cancer data (offline), the dataset the stack trains on."""
    from sklearn.datasets import load_breast_cancer  # heavy import, only when the check runs

    row = [float(v) for v in load_breast_cancer().data[0]]
    if len(row) != BREAST_CANCER_FEATURES:
        raise SmokeError(f"breast_cancer row has {len(row)} features, expected {BREAST_CANCER_FEATURES}")
    return row


def predict(client: httpx.Client, serving_url: str, row: Sequence[float], model_name: str) -> str:
    """A real prediction for one row; returns the model version that made it."""
    response = _expect(client.post(f"{serving_url}{Route.PREDICT}", json={"rows": [list(row)]}))
    body = _parse(_Prediction, response)
    if len(body.predictions) != 1:
        raise SmokeError(f"one row in, {len(body.predictions)} predictions out")
    if body.model_name != model_name:
        raise SmokeError(f"served by model {body.model_name!r}, expected {model_name!r}")
    return body.model_version


def target_up(client: httpx.Client, prometheus_url: str, job: str) -> int:
    """Prometheus scrapes at least one target of `job` successfully; returns how many are up."""
    body = _parse(_TargetsResponse, _expect(client.get(f"{prometheus_url}/api/v1/targets")))
    targets = [t for t in body.data.active_targets if t.labels.get("job") == job]
    up = [t for t in targets if t.health == "up"]
    if not up:
        errors = "; ".join(f"{t.health} {t.last_error}".strip() for t in targets) or "no such target"
        raise SmokeError(f"no {job!r} target is up ({errors})")
    return len(up)


def rules_loaded(client: httpx.Client, prometheus_url: str) -> int:
    """Prometheus has loaded rule groups; returns how many."""
    body = _parse(_RulesResponse, _expect(client.get(f"{prometheus_url}/api/v1/rules")))
    if not body.data.groups:
        raise SmokeError("Prometheus has no rule groups loaded")
    return len(body.data.groups)


def grafana_health(client: httpx.Client, grafana_url: str) -> None:
    """Grafana is up and its database is ok."""
    body = _parse(_GrafanaHealth, _expect(client.get(f"{grafana_url}/api/health")))
    if body.database != "ok":
        raise SmokeError(f"Grafana database is {body.database!r}")


def dashboards(
    client: httpx.Client, grafana_url: str, auth: Auth, minimum: int = MIN_DASHBOARDS
) -> list[str]:
    """Grafana lists at least `minimum` provisioned dashboards; returns their titles."""
    response = _expect(client.get(f"{grafana_url}/api/search", params={"type": "dash-db"}, auth=auth))
    found = [d.title for d in _parse(_DashboardList, response).root]
    if len(found) < minimum:
        raise SmokeError(f"{len(found)} dashboards ({', '.join(found) or 'none'}), expected >= {minimum}")
    return found
