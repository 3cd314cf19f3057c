"""Day-2 maintenance of the MLflow store: a nightly backup CronJob (pg_dump + artifact archive) onto a kept
volume with retention, and a `mlflow gc` CronJob that purges runs deleted longer ago than the retention.

Restoring is `python -m ops restore` (ops/restore.py, docs/operations.md); the MlflowBackupStale alert
(monitoring/rules.py) fires when the backup CronJob has not succeeded for too long.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
from pulumi import Input, Output, ResourceOptions

from infra.components.job_pod import JobContainer, Volume, job_pod_spec
from infra.components.mlflow_server import (
    POSTGRES_DB,
    POSTGRES_IMAGE,
    POSTGRES_USER,
    SECRET_DB_PASSWORD,
    backend_store_uri,
)
from infra.components.namespace import MLFLOW_APP, MLFLOW_MAINTENANCE_APP, POSTGRES_APP, POSTGRES_PORT
from infra.components.pod_security import Resources, labels, secret_env, selector, service_account, tmp_dir
from infra.components.workloads import MlflowClientArgs, mlflow_client_env

BACKUP_CRONJOB = "mlflow-backup"
GC_CRONJOB = "mlflow-gc"
BACKUP_CLAIM = "mlflow-backups"
ARTIFACTS_CLAIM = "mlflow-artifacts"
BACKUP_DIR = "/backup"
ARTIFACTS_DIR = "/artifacts"
BACKUP_RESOURCES = Resources(50, 128, 500, 512)
GC_RESOURCES = Resources(50, 256, 500, 512)

# Runs in the PostgreSQL image (pg_dump of the server's own major version; no Python there). Each file is
# written under a dot-name and renamed when complete, so a killed run never leaves a truncated backup that
# looks valid, and retention only counts complete ones. Names sort by time (UTC stamp).
BACKUP_SCRIPT = """set -eu
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
cd "$BACKUP_DIR"
rm -f .*.partial
echo "pg_dump $PGDATABASE@$PGHOST -> mlflow-$stamp.dump"
pg_dump --format=custom --no-owner --no-privileges --file=".mlflow-$stamp.dump.partial"
mv ".mlflow-$stamp.dump.partial" "mlflow-$stamp.dump"
echo "artifact store $ARTIFACTS_DIR -> artifacts-$stamp.tar.gz"
tar -C "$ARTIFACTS_DIR" -czf ".artifacts-$stamp.tar.gz.partial" .
mv ".artifacts-$stamp.tar.gz.partial" "artifacts-$stamp.tar.gz"
for pattern in 'mlflow-*.dump' 'artifacts-*.tar.gz'; do
  ls -1 $pattern | sort -r | tail -n +"$((BACKUP_KEEP + 1))" | while read -r old; do
    echo "retention: removing $old"
    rm -f -- "$old"
  done
done
echo "backup $stamp complete"
"""


@dataclass(frozen=True)
class MlflowMaintenanceArgs:
    """What to back up and clean, where, and when."""

    namespace: Input[str]
    """Target namespace."""
    stack: str
    """Stack name (labels)."""
    mlflow_image: Input[str]
    """The MLflow server image (runs `mlflow gc`)."""
    mlflow: MlflowClientArgs
    """Tracking server and credentials (gc deletes proxied artifacts through the server)."""
    credentials_secret: Input[str]
    """Secret holding the PostgreSQL password."""
    backup_schedule: str
    """Cron schedule of the backup."""
    backup_keep: int
    """How many backups (each a dump and an artifact archive) to keep."""
    backup_storage: str
    """Backup PVC size."""
    storage_class: str | None
    """StorageClass, None for the cluster default."""
    protect_volumes: bool
    """Keep the backup PVC when the stack is destroyed."""
    gc_schedule: str
    """Cron schedule of `mlflow gc`."""
    gc_older_than_days: int
    """Purge runs deleted at least this many days ago (the grace period to restore a deleted run)."""


def _cron(
    schedule: str, pod: k8s.core.v1.PodSpecArgs, pod_labels: dict[str, str], deadline: int
) -> k8s.batch.v1.CronJobSpecArgs:
    return k8s.batch.v1.CronJobSpecArgs(
        schedule=schedule,
        concurrency_policy="Forbid",
        starting_deadline_seconds=3600,
        successful_jobs_history_limit=3,
        failed_jobs_history_limit=3,
        job_template=k8s.batch.v1.JobTemplateSpecArgs(
            metadata=k8s.meta.v1.ObjectMetaArgs(labels=pod_labels),
            spec=k8s.batch.v1.JobSpecArgs(
                backoff_limit=2,
                active_deadline_seconds=deadline,
                ttl_seconds_after_finished=7 * 86400,
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=pod_labels), spec=pod
                ),
            ),
        ),
    )


def _claim_volume(name: str, claim: str, mount_path: str, read_only: bool = False) -> Volume:
    return (
        k8s.core.v1.VolumeArgs(
            name=name,
            persistent_volume_claim=k8s.core.v1.PersistentVolumeClaimVolumeSourceArgs(
                claim_name=claim, read_only=read_only or None
            ),
        ),
        k8s.core.v1.VolumeMountArgs(name=name, mount_path=mount_path, read_only=read_only or None),
    )


def _same_node_as_mlflow() -> k8s.core.v1.AffinityArgs:
    """ReadWriteOnce binds the artifact volume to one node: the backup pod must run beside MLflow's."""
    return k8s.core.v1.AffinityArgs(
        pod_affinity=k8s.core.v1.PodAffinityArgs(
            required_during_scheduling_ignored_during_execution=[
                k8s.core.v1.PodAffinityTermArgs(
                    label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector(MLFLOW_APP)),
                    topology_key="kubernetes.io/hostname",
                )
            ]
        )
    )


class MlflowMaintenance(pulumi.ComponentResource):
    """Backup CronJob + its volume, and the `mlflow gc` CronJob."""

    backup_cronjob: Output[str]
    """Name of the backup CronJob (`kubectl create job --from=cronjob/<it>` backs up now)."""

    def __init__(self, name: str, args: MlflowMaintenanceArgs, opts: ResourceOptions | None = None) -> None:
        super().__init__("mlops:index:MlflowMaintenance", name, None, opts)
        ns = args.namespace
        backup_labels = labels(args.stack, MLFLOW_MAINTENANCE_APP, "backup")
        k8s.core.v1.PersistentVolumeClaim(
            f"{name}-backups",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=BACKUP_CLAIM,
                namespace=ns,
                labels=backup_labels,
                # Bound only when the first backup runs (WaitForFirstConsumer): nothing to await.
                annotations={"pulumi.com/skipAwait": "true"},
            ),
            spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                access_modes=["ReadWriteOnce"],
                storage_class_name=args.storage_class,
                resources=k8s.core.v1.VolumeResourceRequirementsArgs(
                    requests={"storage": args.backup_storage}
                ),
            ),
            # Backups are kept like the data they back up (retainOnDelete, never `protect`).
            opts=ResourceOptions(parent=self, retain_on_delete=args.protect_volumes),
        )
        account = service_account(f"{name}-maintenance", MLFLOW_MAINTENANCE_APP, ns, backup_labels, self)
        plain = {
            "PGHOST": POSTGRES_APP,
            "PGPORT": str(POSTGRES_PORT),
            "PGUSER": POSTGRES_USER,
            "PGDATABASE": POSTGRES_DB,
            "BACKUP_DIR": BACKUP_DIR,
            "ARTIFACTS_DIR": ARTIFACTS_DIR,
            "BACKUP_KEEP": str(args.backup_keep),
        }
        backup = JobContainer(
            name="backup",
            image=POSTGRES_IMAGE,
            command=["/bin/sh", "-c", BACKUP_SCRIPT],
            env=[
                *(k8s.core.v1.EnvVarArgs(name=k, value=v) for k, v in plain.items()),
                # libpq reads PGPASSWORD: the password never appears on a command line.
                secret_env("PGPASSWORD", args.credentials_secret, SECRET_DB_PASSWORD),
            ],
            resources=BACKUP_RESOURCES,
        )
        backup_pod = job_pod_spec(
            account,
            backup,
            volumes=[
                _claim_volume("backups", BACKUP_CLAIM, BACKUP_DIR),
                _claim_volume("artifacts", ARTIFACTS_CLAIM, ARTIFACTS_DIR, read_only=True),
                tmp_dir(64),
            ],
            affinity=_same_node_as_mlflow(),
        )
        backup_cron = k8s.batch.v1.CronJob(
            f"{name}-backup",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=BACKUP_CRONJOB, namespace=ns, labels=backup_labels),
            spec=_cron(args.backup_schedule, backup_pod, backup_labels, 3600),
            opts=ResourceOptions(parent=self),
        )
        gc_labels = labels(args.stack, MLFLOW_MAINTENANCE_APP, "garbage-collection")
        gc = JobContainer(
            name="gc",
            image=args.mlflow_image,
            # Artifacts are proxied: gc deletes them through the server (MLFLOW_TRACKING_URI + admin
            # credentials), the run rows directly in PostgreSQL.
            args=[
                "gc",
                f"--backend-store-uri={backend_store_uri()}",
                f"--older-than={args.gc_older_than_days}d",
            ],
            env=[
                secret_env("POSTGRES_PASSWORD", args.credentials_secret, SECRET_DB_PASSWORD),
                *mlflow_client_env(args.mlflow),
            ],
            resources=GC_RESOURCES,
        )
        gc_pod = job_pod_spec(account, gc, volumes=[tmp_dir(64)])
        k8s.batch.v1.CronJob(
            f"{name}-gc",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=GC_CRONJOB, namespace=ns, labels=gc_labels),
            spec=_cron(args.gc_schedule, gc_pod, gc_labels, 3600),
            opts=ResourceOptions(parent=self),
        )
        self.backup_cronjob = Output.all(backup_cron.id, BACKUP_CRONJOB).apply(lambda parts: str(parts[1]))
        self.register_outputs({"backup_cronjob": self.backup_cronjob})
