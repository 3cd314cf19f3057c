"""The pod of a run-to-completion Job: one hardened container, its own token-less account, a writable tmp.

Every Job and CronJob of the platform (schema migration, identities, training, backup, gc) builds its pod
here, so none of them can drop a piece of the hardening in pod_security.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi_kubernetes as k8s
from pulumi import Input

from infra.components.pod_security import Resources, container_security_context, pod_security_context
from mlops_contract.names import CONTAINER_TMP_DIR

Volume = tuple[k8s.core.v1.VolumeArgs, k8s.core.v1.VolumeMountArgs]
"""A volume and where the container mounts it (pod_security.tmp_dir / writable_dir return these)."""


@dataclass(frozen=True)
class JobContainer:
    """What the Job runs."""

    name: str
    image: Input[str]
    resources: Resources
    command: Sequence[str] | None = None
    """Replaces the image's entrypoint (None: the image's own)."""
    args: Sequence[str] | None = None
    env: Sequence[k8s.core.v1.EnvVarArgs] = ()


def job_pod_spec(
    account: Input[str],
    container: JobContainer,
    volumes: Sequence[Volume],
    affinity: k8s.core.v1.AffinityArgs | None = None,
) -> k8s.core.v1.PodSpecArgs:
    """A PSS-restricted Job pod that never restarts in place (the Job's backoff retries it) nor mounts an API
    token. `volumes` are mounted in their order and must include the tmp dir: the root filesystem is
    read-only."""
    if not any(mount.mount_path == CONTAINER_TMP_DIR for _, mount in volumes):
        raise ValueError(f"Job container {container.name!r}: no volume at {CONTAINER_TMP_DIR} (tmp_dir())")
    return k8s.core.v1.PodSpecArgs(
        restart_policy="Never",
        service_account_name=account,
        automount_service_account_token=False,
        security_context=pod_security_context(),
        affinity=affinity,
        containers=[
            k8s.core.v1.ContainerArgs(
                name=container.name,
                image=container.image,
                image_pull_policy="IfNotPresent",
                command=None if container.command is None else list(container.command),
                args=None if container.args is None else list(container.args),
                env=list(container.env),
                resources=container.resources.args(),
                security_context=container_security_context(),
                volume_mounts=[mount for _, mount in volumes],
            )
        ],
        volumes=[volume for volume, _ in volumes],
    )
