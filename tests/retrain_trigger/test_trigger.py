"""The retrain trigger's webhook: one retraining per firing drift episode, nothing for anything else.

The Kubernetes API cannot run here: KubernetesBackend is exercised against a test double of BatchV1Api
(the real client's model classes are used for the Job it builds).
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from kubernetes.client import (
    V1CronJob,
    V1CronJobSpec,
    V1Job,
    V1JobCondition,
    V1JobList,
    V1JobSpec,
    V1JobStatus,
    V1JobTemplateSpec,
    V1ObjectMeta,
    V1OwnerReference,
)
from kubernetes.client.exceptions import ApiException

from mlops_contract.names import Route
from monitoring.rules import alert_rules
from services.retrain_trigger.__main__ import backend_from_env, guard_from_env
from services.retrain_trigger.app import create_app
from services.retrain_trigger.backends import AlreadyStarted, AtCapacity, KubernetesBackend, LocalBackend
from services.retrain_trigger.episodes import Episode
from services.retrain_trigger.guard import GuardSettings

TOKEN = "s3cret-token"


class RecordingBackend:
    def __init__(self, fail_times: int = 0) -> None:
        self.started: list[Episode] = []
        self.fail_times = fail_times

    def start(self, episode: Episode) -> str:
        if self.fail_times:
            self.fail_times -= 1
            raise RuntimeError("api unavailable")
        self.started.append(episode)
        return f"job-{episode.key}"


def alert(status: str = "firing", starts_at: str = "2026-11-26T06:00:00Z", **labels: str) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": "FeatureDrift", "action": "retrain", "severity": "warning", **labels},
        "annotations": {"summary": "x"},
        "startsAt": starts_at,
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": "abc123",
        "generatorURL": "http://prometheus/graph",
    }


def notify(client: TestClient, *alerts: dict[str, Any]) -> dict[str, Any]:
    body = {
        "version": "4",
        "status": "firing",
        "receiver": "retrain",
        "groupKey": "{}:{}",
        "alerts": list(alerts),
    }
    response = client.post(Route.ALERTS, json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_one_retrain_per_episode() -> None:
    backend = RecordingBackend()
    client = TestClient(create_app(backend))
    assert len(notify(client, alert())["started"]) == 1
    # Alertmanager repeats the notification while the alert keeps firing: debounced.
    assert notify(client, alert()) == {"started": [], "debounced": 1}
    assert notify(client, alert(status="resolved"))["started"] == []
    # A new episode (the alert fired again later) retrains again.
    assert len(notify(client, alert(starts_at="2026-11-27T06:00:00Z"))["started"]) == 1
    assert len(backend.started) == 2
    metrics = client.get(Route.METRICS).text
    assert 'mlops_retrains_triggered_total{alertname="FeatureDrift"} 2.0' in metrics
    assert "mlops_retrain_duplicates_total 1.0" in metrics


def test_both_drift_alerts_from_the_rules_start_a_retraining() -> None:
    """The trigger keys on the `action=retrain` label, not on alert names: the rules' drift alerts carry it."""
    drift = [r for r in alert_rules() if r.extra_labels.get("action") == "retrain"]
    assert {r.name for r in drift} == {"DatasetDrift", "FeatureDrift"}
    backend = RecordingBackend()
    client = TestClient(create_app(backend))
    fired = [
        {**alert(), "labels": rule.as_dict()["labels"] | {"alertname": rule.name}, "fingerprint": rule.name}
        for rule in drift
    ]
    assert len(notify(client, *fired)["started"]) == 2
    assert sorted(e.alertname for e in backend.started) == ["DatasetDrift", "FeatureDrift"]


def test_alerts_without_the_retrain_action_are_ignored() -> None:
    backend = RecordingBackend()
    client = TestClient(create_app(backend))
    other = alert()
    other["labels"] = {"alertname": "ServingDown", "severity": "critical"}
    assert notify(client, other)["started"] == []
    assert backend.started == []


def test_a_failed_start_is_retried_not_lost() -> None:
    backend = RecordingBackend(fail_times=1)
    client = TestClient(create_app(backend))
    body = {"alerts": [alert()]}
    response = client.post(Route.ALERTS, json=body)
    assert response.status_code == 503  # Alertmanager retries non-2xx
    assert "could not start retraining" in response.json()["detail"]
    assert len(notify(client, alert())["started"]) == 1


def test_bad_payload_is_a_422_naming_the_field() -> None:
    client = TestClient(create_app(RecordingBackend()))
    response = client.post(Route.ALERTS, json={"alerts": [{"labels": {}}]})
    assert response.status_code == 422
    assert "status" in response.text


class FakeBatchApi:
    """Test double of kubernetes.client.BatchV1Api (no API server here)."""

    def __init__(self) -> None:
        self.jobs: dict[str, Any] = {}
        self.cron = V1CronJob(
            metadata=V1ObjectMeta(name="training-retrain", namespace="mlops", uid="uid-1"),
            spec=V1CronJobSpec(
                schedule="0 3 * * *",
                job_template=V1JobTemplateSpec(
                    metadata=V1ObjectMeta(labels={"app.kubernetes.io/name": "training"}),
                    spec=V1JobSpec(template={"spec": {"containers": []}}, backoff_limit=1),
                ),
            ),
        )

    def read_namespaced_cron_job(self, name: str, namespace: str) -> V1CronJob:
        assert (name, namespace) == ("training-retrain", "mlops")
        return self.cron

    def create_namespaced_job(self, namespace: str, job: Any) -> Any:  # noqa: ARG002
        if job.metadata.name in self.jobs:
            raise ApiException(status=409, reason="AlreadyExists")
        self.jobs[job.metadata.name] = job
        return job

    def list_namespaced_job(self, namespace: str) -> V1JobList:
        assert namespace == "mlops"
        return V1JobList(items=list(self.jobs.values()))

    def add_job(self, name: str, owner_uid: str, finished: str | None = None) -> None:
        """A Job as the CronJob controller (or another owner) would have created it."""
        conditions = [V1JobCondition(type=finished, status="True")] if finished else None
        self.jobs[name] = V1Job(
            metadata=V1ObjectMeta(
                name=name,
                owner_references=[
                    V1OwnerReference(api_version="batch/v1", kind="CronJob", name="x", uid=owner_uid)
                ],
            ),
            status=V1JobStatus(conditions=conditions),
        )


def test_kubernetes_backend_creates_an_owned_job_once() -> None:
    api = FakeBatchApi()
    backend = KubernetesBackend("mlops", "training-retrain", batch_api=api)
    episode = Episode("FeatureDrift", "abc", "2026-11-26T06:00:00Z")
    name = backend.start(episode)
    job = api.jobs[name]
    assert name == f"training-retrain-drift-{episode.key}" and len(name) <= 63
    assert job.spec.backoff_limit == 1
    assert job.metadata.labels["app.kubernetes.io/name"] == "training"
    assert job.metadata.owner_references[0].uid == "uid-1"
    # After a restart the ledger is empty, but the API refuses a second Job for the same episode.
    with pytest.raises(AlreadyStarted):
        backend.start(episode)


def test_kubernetes_backend_refuses_a_job_while_the_cronjob_has_one_active() -> None:
    api = FakeBatchApi()
    api.add_job("training-retrain-29000000", "uid-1")  # the scheduled run, still going
    api.add_job("training-retrain-28990000", "uid-1", finished="Complete")
    api.add_job("someone-elses", "uid-2")
    backend = KubernetesBackend("mlops", "training-retrain", batch_api=api)
    episode = Episode("FeatureDrift", "abc", "2026-11-26T06:00:00Z")
    with pytest.raises(AtCapacity, match=r"1 retraining Job\(s\) of training-retrain active \(limit 1\)"):
        backend.start(episode)
    assert len(api.jobs) == 3
    api.add_job("training-retrain-29000000", "uid-1", finished="Failed")
    assert backend.start(episode) in api.jobs


def test_at_capacity_is_a_429_with_the_reason_and_a_later_retry_starts_it() -> None:
    api = FakeBatchApi()
    api.add_job("training-retrain-29000000", "uid-1")
    client = TestClient(create_app(KubernetesBackend("mlops", "training-retrain", batch_api=api)))
    body = {"alerts": [alert()]}
    response = client.post(Route.ALERTS, json=body)
    assert response.status_code == 429
    assert "training-retrain-29000000" in response.json()["detail"]
    api.add_job("training-retrain-29000000", "uid-1", finished="Complete")
    assert len(notify(client, alert())["started"]) == 1


def test_a_kubernetes_api_error_is_logged_not_echoed(caplog: pytest.LogCaptureFixture) -> None:
    class ForbiddenApi(FakeBatchApi):
        def create_namespaced_job(self, namespace: str, job: Any) -> Any:  # noqa: ARG002
            raise ApiException(
                status=403,
                reason='jobs.batch is forbidden: User "system:serviceaccount:mlops:retrain-trigger"',
            )

    client = TestClient(create_app(KubernetesBackend("mlops", "training-retrain", batch_api=ForbiddenApi())))
    response = client.post(Route.ALERTS, json={"alerts": [alert()]})
    assert response.status_code == 503
    assert "serviceaccount" not in response.text and "forbidden" not in response.text
    assert "cause is in the trigger's log" in response.json()["detail"]
    assert "system:serviceaccount:mlops:retrain-trigger" in caplog.text


def guarded(backend: RecordingBackend, max_body_bytes: int = 4096) -> TestClient:
    return TestClient(
        create_app(backend, guard=GuardSettings(Route.ALERTS, token=TOKEN, max_body_bytes=max_body_bytes))
    )


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}, {"Authorization": ""}],
)
def test_without_the_bearer_token_alerts_are_401_and_start_nothing(headers: dict[str, str]) -> None:
    backend = RecordingBackend()
    response = guarded(backend).post(Route.ALERTS, json={"alerts": [alert()]}, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert backend.started == []


def test_with_the_bearer_token_alerts_start_a_retraining_and_probes_stay_open() -> None:
    backend = RecordingBackend()
    client = guarded(backend)
    response = client.post(
        Route.ALERTS, json={"alerts": [alert()]}, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert response.status_code == 200 and len(backend.started) == 1
    assert client.get(Route.HEALTHZ).status_code == 200


def test_a_body_over_the_limit_is_413_declared_or_streamed() -> None:
    backend = RecordingBackend()
    client = guarded(backend, max_body_bytes=1000)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    big = {"alerts": [alert(padding="x" * 2000)]}
    assert client.post(Route.ALERTS, json=big, headers=auth).status_code == 413

    def chunks() -> Any:  # no Content-Length: the limit is enforced while the body streams in
        yield b'{"alerts": [], "padding": "'
        for _ in range(20):
            yield b"x" * 100
        yield b'"}'

    response = client.post(
        Route.ALERTS, content=chunks(), headers={**auth, "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert backend.started == []


def test_the_token_comes_from_a_file_and_is_required_in_the_cluster(tmp_path: Any) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(f"{TOKEN}\n")
    guard = guard_from_env({"MLOPS_TRIGGER_TOKEN_FILE": str(token_file)})
    assert guard.token == TOKEN and guard.path == Route.ALERTS
    with pytest.raises(ValueError, match="MLOPS_TRIGGER_TOKEN_FILE must be set"):
        guard_from_env({})
    assert guard_from_env({"MLOPS_TRIGGER_BACKEND": "local"}).token is None
    with pytest.raises(ValueError, match="MLOPS_TRIGGER_TOKEN_FILE: cannot read"):
        guard_from_env({"MLOPS_TRIGGER_TOKEN_FILE": str(tmp_path / "missing")})
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ValueError, match="is empty"):
        guard_from_env({"MLOPS_TRIGGER_TOKEN_FILE": str(tmp_path / "empty")})
    with pytest.raises(ValueError, match="MLOPS_TRIGGER_MAX_BODY_BYTES: '0' is not a positive integer"):
        guard_from_env({"MLOPS_TRIGGER_BACKEND": "local", "MLOPS_TRIGGER_MAX_BODY_BYTES": "0"})


def test_backend_settings() -> None:
    assert isinstance(backend_from_env({"MLOPS_TRIGGER_BACKEND": "local"}), LocalBackend)
    k8s = backend_from_env({"MLOPS_NAMESPACE": "mlops"})
    assert isinstance(k8s, KubernetesBackend) and k8s.cronjob == "training-retrain"
    assert k8s.max_active == 1
    capped = backend_from_env({"MLOPS_NAMESPACE": "mlops", "MLOPS_TRIGGER_MAX_ACTIVE": "2"})
    assert isinstance(capped, KubernetesBackend) and capped.max_active == 2
    with pytest.raises(ValueError, match="MLOPS_TRIGGER_MAX_ACTIVE: 'none' is not a positive integer"):
        backend_from_env({"MLOPS_NAMESPACE": "mlops", "MLOPS_TRIGGER_MAX_ACTIVE": "none"})
    with pytest.raises(ValueError, match="MLOPS_NAMESPACE must be set"):
        backend_from_env({})
    with pytest.raises(ValueError, match="MLOPS_TRIGGER_BACKEND: 'k8s' is not one of"):
        backend_from_env({"MLOPS_TRIGGER_BACKEND": "k8s"})
