"""Per-workload MLflow users: one Secret per workload and a Job that creates them through MLflow's auth API.

The admin login stays with the MLflow pod and this short-lived Job (as a file, never env); serving, training
and Prometheus each get their own user with only the permission they need (docs/security.md):
serving READ and training EDIT on the shared experiment and the registered model, Prometheus none (MLflow's
/metrics needs an authenticated user only). The Job runs services/mlflow/identities.py in the MLflow image
(the file ships in a ConfigMap), and is replaced, i.e. rerun, whenever the spec or a password changes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s
from pulumi import Input, Output, ResourceOptions

from infra.components.credentials import given_or_generated
from infra.components.job_pod import JobContainer, job_pod_spec
from infra.components.namespace import IDENTITIES_APP
from infra.components.pod_security import Resources, labels, service_account, tmp_dir
from mlops_contract.names import Env

IDENTITIES_JOB_NAME = "mlflow-identities"
IDENTITIES_RESOURCES = Resources(50, 128, 500, 256)
USERNAME_KEY = "username"
PASSWORD_KEY = "password"  # noqa: S105 - a key name
SCRIPT = Path(__file__).resolve().parents[2] / "services" / "mlflow" / "identities.py"
SCRIPT_DIR = "/opt/mlflow-identities"
PASSWORDS_DIR = "/run/mlflow-identities"


@dataclass(frozen=True)
class Workload:
    """One MLflow user: its name and its permission on the experiment and on the registered model."""

    user: str
    experiment: str | None
    model: str | None


# Who gets what (docs/security.md, "MLflow identities"). The names are the MLflow usernames.
SERVING = Workload("serving", "READ", "READ")
TRAINING = Workload("training", "EDIT", "EDIT")
PROMETHEUS = Workload("prometheus", None, None)
WORKLOADS = (SERVING, TRAINING, PROMETHEUS)


def credentials_secret_name(workload: Workload) -> str:
    """The Secret (keys `username`, `password`) a workload's pods reference."""
    return f"mlflow-{workload.user}-credentials"


@dataclass(frozen=True)
class MlflowIdentitiesArgs:
    """Where MLflow is, who administers it, and what the workloads share."""

    namespace: Input[str]
    stack: str
    image: Input[str]
    """MLflow server image (has mlflow[auth]; runs the bootstrap script)."""
    tracking_uri: Input[str]
    admin_secret: Input[str]
    """Secret holding the admin username/password."""
    admin_user: str
    admin_password_key: str
    experiment: str
    model_name: str
    mlflow_ready: list[pulumi.Resource]
    """What must exist before the Job can talk to MLflow (its Deployment and Service)."""
    passwords: dict[str, Output[str]] | None = None
    """Given passwords by username (stack config secrets); the rest are generated."""


class MlflowIdentities(pulumi.ComponentResource):
    """Workload Secrets + the bootstrap Job; depend on `job` before a workload first talks to MLflow."""

    job: k8s.batch.v1.Job
    """Awaited by Pulumi: the users exist once it is ready."""
    secrets: dict[str, Output[str]]
    """Credentials Secret name by username."""

    def __init__(self, name: str, args: MlflowIdentitiesArgs, opts: ResourceOptions | None = None) -> None:
        super().__init__("mlops:index:MlflowIdentities", name, None, opts)
        meta = labels(args.stack, IDENTITIES_APP, "tracking")
        given = args.passwords or {}
        passwords = {
            w.user: given_or_generated(f"{name}-{w.user}-password", given.get(w.user), 32, self)
            for w in WORKLOADS
        }
        self.secrets = {}
        for workload in WORKLOADS:
            secret = k8s.core.v1.Secret(
                f"{name}-{workload.user}",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=credentials_secret_name(workload), namespace=args.namespace, labels=meta
                ),
                type="Opaque",
                string_data={USERNAME_KEY: workload.user, PASSWORD_KEY: passwords[workload.user]},
                opts=ResourceOptions(parent=self),
            )
            self.secrets[workload.user] = Output.all(secret.id, secret.metadata.name).apply(
                lambda parts: str(parts[1])
            )
        spec = json.dumps(
            {
                "experiment": args.experiment,
                "model": args.model_name,
                "users": [
                    {
                        "name": w.user,
                        "password_file": f"{PASSWORDS_DIR}/{w.user}",
                        "experiment": w.experiment,
                        "model": w.model,
                    }
                    for w in WORKLOADS
                ],
            },
            sort_keys=True,
        )
        script = SCRIPT.read_text()
        config = k8s.core.v1.ConfigMap(
            f"{name}-script",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=IDENTITIES_APP, namespace=args.namespace, labels=meta),
            data={"identities.py": script},
            opts=ResourceOptions(parent=self),
        )
        # A changed password or spec changes the pod template, so Pulumi replaces the Job: it runs again.
        checksum = Output.all(*passwords.values()).apply(
            lambda values: hashlib.sha256("\0".join([spec, script, *values]).encode()).hexdigest()[:16]
        )
        account = service_account(f"{name}-identities", IDENTITIES_APP, args.namespace, meta, self)
        script_files = k8s.core.v1.VolumeArgs(
            name="script", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=IDENTITIES_APP)
        )
        password_files = k8s.core.v1.VolumeArgs(
            name="passwords",
            projected=k8s.core.v1.ProjectedVolumeSourceArgs(
                sources=[
                    k8s.core.v1.VolumeProjectionArgs(
                        secret=k8s.core.v1.SecretProjectionArgs(
                            name=self.secrets[w.user],
                            items=[k8s.core.v1.KeyToPathArgs(key=PASSWORD_KEY, path=w.user)],
                        )
                    )
                    for w in WORKLOADS
                ]
                + [
                    k8s.core.v1.VolumeProjectionArgs(
                        secret=k8s.core.v1.SecretProjectionArgs(
                            name=args.admin_secret,
                            items=[k8s.core.v1.KeyToPathArgs(key=args.admin_password_key, path="admin")],
                        )
                    )
                ],
            ),
        )
        container = JobContainer(
            name="identities",
            image=args.image,
            command=["python", f"{SCRIPT_DIR}/identities.py"],
            env=[
                k8s.core.v1.EnvVarArgs(name=Env.TRACKING_URI, value=args.tracking_uri),
                k8s.core.v1.EnvVarArgs(name=Env.TRACKING_USERNAME, value=args.admin_user),
                k8s.core.v1.EnvVarArgs(name="MLOPS_ADMIN_PASSWORD_FILE", value=f"{PASSWORDS_DIR}/admin"),
                k8s.core.v1.EnvVarArgs(name="MLOPS_IDENTITIES_SPEC", value=spec),
            ],
            resources=IDENTITIES_RESOURCES,
        )
        self.job = k8s.batch.v1.Job(
            f"{name}-job",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=IDENTITIES_JOB_NAME,
                namespace=args.namespace,
                labels=meta,
                annotations={"pulumi.com/replaceUnready": "true"},
            ),
            spec=k8s.batch.v1.JobSpecArgs(
                backoff_limit=6,
                active_deadline_seconds=600,
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels=meta, annotations={"checksum/identities": checksum}
                    ),
                    spec=job_pod_spec(
                        account,
                        container,
                        volumes=[
                            (script_files, _read_only_mount(script_files, SCRIPT_DIR)),
                            (password_files, _read_only_mount(password_files, PASSWORDS_DIR)),
                            tmp_dir(64),
                        ],
                    ),
                ),
            ),
            opts=ResourceOptions(
                parent=self,
                depends_on=[config, *args.mlflow_ready],
                custom_timeouts=pulumi.CustomTimeouts(create="10m"),
            ),
        )
        self.register_outputs({"secrets": self.secrets})


def _read_only_mount(volume: k8s.core.v1.VolumeArgs, path: str) -> k8s.core.v1.VolumeMountArgs:
    return k8s.core.v1.VolumeMountArgs(name=volume.name, mount_path=path, read_only=True)
