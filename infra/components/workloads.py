"""What the training and serving containers are told: the env names they read, from mlops_contract.

Both sides use mlops_contract.names.Env, so a renamed variable breaks the build of this module's users,
not a pod at runtime.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi_kubernetes as k8s
from pulumi import Input

from infra.components.mlflow_identities import PASSWORD_KEY, USERNAME_KEY
from infra.components.pod_security import secret_env
from mlops_contract.names import Env


@dataclass(frozen=True)
class MlflowClientArgs:
    """How a workload reaches MLflow."""

    tracking_uri: Input[str]
    """In-cluster tracking URI."""
    credentials_secret: Input[str]
    """The workload's own MLflow login (a Secret from MlflowIdentities: `username`, `password`)."""
    username_key: str = USERNAME_KEY
    password_key: str = PASSWORD_KEY
    """Other keys only for the admin login (MlflowServer's Secret), which maintenance alone uses."""


def mlflow_client_env(client: MlflowClientArgs) -> list[k8s.core.v1.EnvVarArgs]:
    """Tracking URI and credentials (the credentials only as secretKeyRefs)."""
    return [
        k8s.core.v1.EnvVarArgs(name=Env.TRACKING_URI, value=client.tracking_uri),
        secret_env(Env.TRACKING_USERNAME, client.credentials_secret, client.username_key),
        secret_env(Env.TRACKING_PASSWORD, client.credentials_secret, client.password_key),
    ]


def plain_env(values: dict[Env, str]) -> list[k8s.core.v1.EnvVarArgs]:
    """Non-secret settings, by their contract names."""
    return [k8s.core.v1.EnvVarArgs(name=name.value, value=value) for name, value in values.items()]
