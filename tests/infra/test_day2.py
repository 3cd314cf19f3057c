"""Day-2 objects under mocks: the awaited schema migration Job before MLflow, the backup and gc CronJobs,
their volume and network access. Their commands run for real in tests/integration/test_day2_operations.py."""

from __future__ import annotations

from typing import Any

from infra.components.mlflow_maintenance import BACKUP_CLAIM, BACKUP_CRONJOB, GC_CRONJOB
from infra.components.namespace import MLFLOW_APP, MLFLOW_MAINTENANCE_APP, POSTGRES_APP
from infra.components.schema_migration import MIGRATION_JOB_PREFIX, migration_job_name
from infra.render import MockedStack
from mlops_contract.names import Env
from tests.infra.conftest import config_for, env_of, find, pod_spec


def _migration(stack: MockedStack) -> dict[str, Any]:
    jobs = [
        m
        for m in stack.manifests()
        if m["kind"] == "Job" and m["metadata"]["name"].startswith(MIGRATION_JOB_PREFIX)
    ]
    assert len(jobs) == 1
    return jobs[0]


def test_mlflow_starts_only_after_the_awaited_schema_migration(stack: MockedStack) -> None:
    assert stack.by_name("mlflow-db-upgrade").type == "kubernetes:batch/v1:Job"
    assert "mlflow-db-upgrade" in stack.by_name("mlflow-mlflow").depends_on
    assert "mlflow-postgres" in stack.by_name("mlflow-db-upgrade").depends_on
    job = _migration(stack)
    # Awaited and owned by Pulumi (no TTL), retried by the next `pulumi up` when it failed.
    assert "ttlSecondsAfterFinished" not in job["spec"]
    assert job["metadata"]["annotations"] == {"pulumi.com/replaceUnready": "true"}
    assert job["spec"]["parallelism"] == job["spec"]["completions"] == 1
    migrate = pod_spec(job)["containers"][0]
    server = pod_spec(find(stack.manifests(), "Deployment", "mlflow"))["containers"][0]
    # The same image and the same database as the server it prepares.
    assert migrate["image"] == server["image"]
    # The server reads its URI from the environment (off its command line); `mlflow db upgrade` only from argv.
    assert migrate["args"] == ["db", "upgrade", env_of(server)["MLFLOW_BACKEND_STORE_URI"]]
    assert env_of(migrate)["POSTGRES_PASSWORD"] == env_of(server)["POSTGRES_PASSWORD"]
    assert job["metadata"]["name"] == migration_job_name(server["image"])
    assert pod_spec(job)["containers"][0].get("command") is None  # the image's `mlflow` entrypoint


def test_a_new_mlflow_image_gets_a_new_migration_job() -> None:
    a, b = migration_job_name("mlops-mlflow:aaa"), migration_job_name("mlops-mlflow:bbb")
    assert a != b and a == migration_job_name("mlops-mlflow:aaa")
    assert len(a) <= 63 and a.startswith(f"{MIGRATION_JOB_PREFIX}-")


def test_backup_cronjob_dumps_to_its_volume_beside_mlflow(stack: MockedStack, mode: str) -> None:
    cfg = config_for(mode)
    cron = find(stack.manifests(), "CronJob", BACKUP_CRONJOB)
    assert cron["spec"]["schedule"] == cfg.backup_schedule
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    pod = pod_spec(cron)
    container = pod["containers"][0]
    env = env_of(container)
    assert env["BACKUP_KEEP"] == str(cfg.backup_retention)
    assert env["PGPASSWORD"]["secretKeyRef"] == {"name": "mlflow-credentials", "key": "postgres-password"}
    assert "pg_dump" in container["command"][-1] and "PGPASSWORD" not in container["command"][-1]
    claims = {v["name"]: v["persistentVolumeClaim"] for v in pod["volumes"] if "persistentVolumeClaim" in v}
    assert claims["backups"] == {"claimName": BACKUP_CLAIM}
    assert claims["artifacts"] == {"claimName": "mlflow-artifacts", "readOnly": True}
    # The artifact claim is ReadWriteOnce: only a pod on MLflow's node can mount it.
    term = pod["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert term["labelSelector"]["matchLabels"]["app.kubernetes.io/name"] == MLFLOW_APP
    assert term["topologyKey"] == "kubernetes.io/hostname"
    claim = find(stack.manifests(), "PersistentVolumeClaim", BACKUP_CLAIM)
    assert claim["spec"]["resources"]["requests"]["storage"] == cfg.backup_storage
    assert stack.by_name("mlflow-maintenance-backups").retain_on_delete is cfg.protect_volumes


def test_gc_cronjob_purges_through_the_mlflow_server(stack: MockedStack, mode: str) -> None:
    cfg = config_for(mode)
    cron = find(stack.manifests(), "CronJob", GC_CRONJOB)
    assert cron["spec"]["schedule"] == cfg.gc_schedule
    container = pod_spec(cron)["containers"][0]
    assert container["args"][0] == "gc"
    assert f"--older-than={cfg.gc_retention_days}d" in container["args"]
    env = env_of(container)
    assert env[Env.TRACKING_URI] == f"http://mlflow.{cfg.namespace}.svc.cluster.local:5000"
    assert "secretKeyRef" in env[Env.TRACKING_PASSWORD]


def test_maintenance_pods_reach_postgres_and_mlflow_but_are_not_mlflow(stack: MockedStack) -> None:
    manifests = stack.manifests()
    for name in (BACKUP_CRONJOB, GC_CRONJOB):
        labels = find(manifests, "CronJob", name)["spec"]["jobTemplate"]["spec"]["template"]["metadata"][
            "labels"
        ]
        assert labels["app.kubernetes.io/name"] == MLFLOW_MAINTENANCE_APP
    # The MLflow Service must never route to a migration or backup pod.
    assert find(manifests, "Service", "mlflow")["spec"]["selector"]["app.kubernetes.io/name"] == MLFLOW_APP
    ingress = find(manifests, "NetworkPolicy", f"allow-ingress-{POSTGRES_APP}")["spec"]["ingress"][0]
    clients = {peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"] for peer in ingress["from"]}
    assert clients == {MLFLOW_APP, MLFLOW_MAINTENANCE_APP}
    egress = find(manifests, "NetworkPolicy", f"allow-egress-{MLFLOW_MAINTENANCE_APP}")["spec"]["egress"]
    servers = {rule["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"] for rule in egress}
    assert servers == {POSTGRES_APP, MLFLOW_APP}
