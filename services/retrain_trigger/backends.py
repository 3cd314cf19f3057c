"""How a retraining run starts: a Job from the retraining CronJob (cluster) or a local training process."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from services.retrain_trigger.episodes import Episode


class AlreadyStarted(Exception):
    """The retraining for this episode exists already (e.g. started before a restart)."""


class AtCapacity(Exception):
    """As many retraining Jobs as allowed are running; the message says how many and which."""


class RetrainBackend(Protocol):
    """Starts one retraining run for an episode; returns a name for logs and the response."""

    def start(self, episode: Episode) -> str: ...


@dataclass
class KubernetesBackend:
    """Creates a Job from the retraining CronJob's template, named after the episode (idempotent)."""

    namespace: str
    cronjob: str
    max_active: int = 1
    """Retraining Jobs of the CronJob (scheduled or triggered) that may run at once, this one included."""
    batch_api: Any = None
    """kubernetes.client.BatchV1Api; built from the in-cluster service account when None."""

    def _api(self) -> Any:
        if self.batch_api is None:
            from kubernetes import client, config

            config.load_incluster_config()  # type: ignore[no-untyped-call]
            self.batch_api = client.BatchV1Api()
        return self.batch_api

    def start(self, episode: Episode) -> str:
        from kubernetes.client import V1Job, V1ObjectMeta, V1OwnerReference
        from kubernetes.client.exceptions import ApiException

        api = self._api()
        cron = api.read_namespaced_cron_job(self.cronjob, self.namespace)
        name = f"{self.cronjob}-drift-{episode.key}"[:63]
        active = self._active_jobs(api, cron.metadata.uid)
        if name in active:
            raise AlreadyStarted(name)
        if len(active) >= self.max_active:
            raise AtCapacity(
                f"{len(active)} retraining Job(s) of {self.cronjob} active (limit {self.max_active}): "
                + ", ".join(sorted(active))
            )
        template = cron.spec.job_template
        job = V1Job(
            api_version="batch/v1",
            kind="Job",
            metadata=V1ObjectMeta(
                name=name,
                namespace=self.namespace,
                labels={**(template.metadata.labels or {}), "mlops.platform/trigger": "drift"},
                annotations={
                    "mlops.platform/alert": episode.alertname,
                    "mlops.platform/alert-starts-at": episode.starts_at,
                    # What `kubectl create job --from=cronjob/...` records, so tools recognise it.
                    "cronjob.kubernetes.io/instantiate": "manual",
                },
                # Owned by the CronJob: deleting it (pulumi destroy) deletes triggered Jobs too.
                owner_references=[
                    V1OwnerReference(
                        api_version="batch/v1",
                        kind="CronJob",
                        name=cron.metadata.name,
                        uid=cron.metadata.uid,
                        controller=False,
                    )
                ],
            ),
            spec=template.spec,
        )
        try:
            api.create_namespaced_job(self.namespace, job)
        except ApiException as exc:
            if exc.status == 409:
                raise AlreadyStarted(name) from None
            raise
        return name

    def _active_jobs(self, api: Any, cron_uid: str) -> list[str]:
        """Names of unfinished Jobs owned by the CronJob (the controller's and this trigger's)."""
        jobs = api.list_namespaced_job(self.namespace)
        return [
            job.metadata.name
            for job in jobs.items
            if any(ref.uid == cron_uid for ref in job.metadata.owner_references or []) and not _finished(job)
        ]


def _finished(job: Any) -> bool:
    conditions = (job.status.conditions if job.status else None) or []
    return any(c.type in {"Complete", "Failed"} and c.status == "True" for c in conditions)


@dataclass
class LocalBackend:
    """Runs the training entry point as a child process (the local dev loop's stand-in for a Job)."""

    argv: Sequence[str] = (sys.executable, "-m", "training")
    env: Mapping[str, str] | None = None
    log_dir: Path | None = None
    runs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, episode: Episode) -> str:
        name = f"retrain-drift-{episode.key}"
        log = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            log = (self.log_dir / f"{name}.log").open("ab")
        with self._lock:
            import os

            self.runs.append(
                subprocess.Popen(
                    list(self.argv),
                    env={**os.environ, **(self.env or {})},
                    # Without a log dir the run's output joins the trigger's own log.
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        if log is not None:
            log.close()  # the child holds its own descriptor
        return name
