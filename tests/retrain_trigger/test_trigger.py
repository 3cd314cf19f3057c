"""The retrain trigger's webhook: one retraining per firing drift episode, nothing for anything else.

The Kubernetes API cannot run here: KubernetesBackend is exercised against a test double of BatchV1Api
(the real client's model classes are used for the Job it builds).
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from kubernetes.client import V1CronJob, V1CronJobSpec, V1JobSpec, V1JobTemplateSpec, V1ObjectMeta
from kubernetes.client.exceptions import ApiException

from mlops_contract.names import Route
from services.retrain_trigger.__main__ import backend_from_env
from services.retrain_trigger.app import create_app
from services.retrain_trigger.backends import AlreadyStarted, KubernetesBackend, LocalBackend
from services.retrain_trigger.episodes import Episode


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


def test_backend_settings() -> None:
    assert isinstance(backend_from_env({"MLOPS_TRIGGER_BACKEND": "local"}), LocalBackend)
    k8s = backend_from_env({"MLOPS_NAMESPACE": "mlops"})
    assert isinstance(k8s, KubernetesBackend) and k8s.cronjob == "training-retrain"
    with pytest.raises(ValueError, match="MLOPS_NAMESPACE must be set"):
        backend_from_env({})
    with pytest.raises(ValueError, match="MLOPS_TRIGGER_BACKEND: 'k8s' is not one of"):
        backend_from_env({"MLOPS_TRIGGER_BACKEND": "k8s"})
