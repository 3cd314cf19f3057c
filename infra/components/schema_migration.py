"""The MLflow schema migration: a Job running `mlflow db upgrade` that the MLflow Deployment waits for.

Why a Job Pulumi awaits (and not an init container in the MLflow pod): a Job runs exactly one pod
(parallelism 1, completions 1), so however many MLflow replicas there are, one process migrates the database
and none races another through the same alembic revisions; an init container would run once per replica and
on every restart. The Deployment depends on the Job, so a new MLflow version starts only on the schema it
expects. `mlflow db upgrade` is alembic's `upgrade head`: on a database already at head it changes nothing,
so the Job is safe to re-run (a replaced failed Job, a manual `kubectl create job`, a restored older dump).
"""

from __future__ import annotations

import hashlib

import pulumi
import pulumi_kubernetes as k8s
from pulumi import Input, Output, ResourceOptions

from infra.components.job_pod import JobContainer, job_pod_spec
from infra.components.namespace import MLFLOW_MAINTENANCE_APP
from infra.components.pod_security import Resources, labels, service_account, tmp_dir

MIGRATION_JOB_PREFIX = "mlflow-db-upgrade"
MIGRATION_RESOURCES = Resources(50, 128, 500, 512)
REPLACE_UNREADY_ANNOTATION = "pulumi.com/replaceUnready"


def migration_job_name(image: str) -> str:
    """One Job per MLflow image: a new image gets a new Job (created and awaited before the old one goes).

    A Job's pod template is immutable, so a changed image replaces the Job; with a fixed name Pulumi would
    have to delete the old Job before creating the new one, with a name per image it creates first.
    """
    return f"{MIGRATION_JOB_PREFIX}-{hashlib.sha256(image.encode()).hexdigest()[:10]}"


def migration_args(backend_store_uri: str) -> list[str]:
    """The container args (the MLflow image's entrypoint is `mlflow`)."""
    return ["db", "upgrade", backend_store_uri]


def schema_migration_job(
    name: str,
    namespace: Input[str],
    stack: str,
    image: Input[str],
    backend_store_uri: str,
    env: list[k8s.core.v1.EnvVarArgs],
    parent: pulumi.Resource,
    depends_on: list[pulumi.Resource],
) -> k8s.batch.v1.Job:
    """Declare the awaited migration Job; make the MLflow Deployment depend on the result."""
    pod_labels = labels(stack, MLFLOW_MAINTENANCE_APP, "schema-migration")
    account = service_account(f"{name}-db-upgrade", MIGRATION_JOB_PREFIX, namespace, pod_labels, parent)
    container = JobContainer(
        name="db-upgrade",
        image=image,
        args=migration_args(backend_store_uri),
        env=env,
        resources=MIGRATION_RESOURCES,
    )
    return k8s.batch.v1.Job(
        f"{name}-db-upgrade",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=Output.from_input(image).apply(migration_job_name),
            namespace=namespace,
            labels=pod_labels,
            # A failed migration is retried by the next `pulumi up` (a new Job) instead of awaited forever.
            annotations={REPLACE_UNREADY_ANNOTATION: "true"},
        ),
        # No ttlSecondsAfterFinished: Pulumi owns this Job; a TTL would delete it behind Pulumi's back.
        spec=k8s.batch.v1.JobSpecArgs(
            backoff_limit=2,
            active_deadline_seconds=900,
            parallelism=1,
            completions=1,
            template=k8s.core.v1.PodTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(labels=pod_labels),
                spec=job_pod_spec(account, container, volumes=[tmp_dir(64)]),
            ),
        ),
        opts=ResourceOptions(
            parent=parent, depends_on=depends_on, custom_timeouts=pulumi.CustomTimeouts(create="15m")
        ),
    )
