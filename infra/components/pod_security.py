"""The one place pods are hardened: PSS-restricted security contexts, resources, writable tmp, labels.

Every component builds its pod specs through these helpers, so a hardening change is made once.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
from pulumi import Input, Output, ResourceOptions

from mlops_contract.names import CONTAINER_TMP_DIR

PART_OF = "mlops-platform"
STACK_LABEL = "mlops.platform/stack"
COMPONENT_LABEL = "app.kubernetes.io/component"
DEFAULT_UID = 10001


@dataclass(frozen=True)
class Resources:
    """CPU (millicores) and memory (MiB) requests and limits of one container."""

    cpu_request_m: int
    memory_request_mi: int
    cpu_limit_m: int
    memory_limit_mi: int

    def times(self, count: int) -> Resources:
        """The footprint of `count` such containers (for budgets of replicated pods)."""
        return Resources(
            self.cpu_request_m * count,
            self.memory_request_mi * count,
            self.cpu_limit_m * count,
            self.memory_limit_mi * count,
        )

    def __add__(self, other: Resources) -> Resources:
        return Resources(
            self.cpu_request_m + other.cpu_request_m,
            self.memory_request_mi + other.memory_request_mi,
            self.cpu_limit_m + other.cpu_limit_m,
            self.memory_limit_mi + other.memory_limit_mi,
        )

    def args(self) -> k8s.core.v1.ResourceRequirementsArgs:
        """As a Kubernetes ResourceRequirements."""
        return k8s.core.v1.ResourceRequirementsArgs(
            requests={"cpu": f"{self.cpu_request_m}m", "memory": f"{self.memory_request_mi}Mi"},
            limits={"cpu": f"{self.cpu_limit_m}m", "memory": f"{self.memory_limit_mi}Mi"},
        )


def labels(stack: str, app: str, component: str) -> dict[str, str]:
    """Labels on every object: what it is, that it belongs to the platform and to which stack."""
    return {
        "app.kubernetes.io/name": app,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": "pulumi",
        COMPONENT_LABEL: component,
        STACK_LABEL: stack,
    }


def selector(app: str) -> dict[str, str]:
    """Pod selector for one app (a subset of `labels`, stable across stack renames)."""
    return {"app.kubernetes.io/name": app, "app.kubernetes.io/part-of": PART_OF}


def pod_security_context(uid: int = DEFAULT_UID) -> k8s.core.v1.PodSecurityContextArgs:
    """Pod-level PSS restricted: non-root uid/gid >= 10000, RuntimeDefault seccomp, group-owned volumes."""
    return k8s.core.v1.PodSecurityContextArgs(
        run_as_non_root=True,
        run_as_user=uid,
        run_as_group=uid,
        fs_group=uid,
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def container_security_context(uid: int = DEFAULT_UID) -> k8s.core.v1.SecurityContextArgs:
    """Container-level PSS restricted: no escalation, no capabilities, read-only root filesystem."""
    return k8s.core.v1.SecurityContextArgs(
        allow_privilege_escalation=False,
        privileged=False,
        read_only_root_filesystem=True,
        run_as_non_root=True,
        run_as_user=uid,
        run_as_group=uid,
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def secret_env(var: str, secret: Input[str], key: str) -> k8s.core.v1.EnvVarArgs:
    """An env var from one key of a Secret: credentials reach containers by reference, never as values."""
    return k8s.core.v1.EnvVarArgs(
        name=var,
        value_from=k8s.core.v1.EnvVarSourceArgs(
            secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=secret, key=key)
        ),
    )


def http_probe(
    path: str, port: int | str, period: int, failures: int | None = None, timeout: int = 3
) -> k8s.core.v1.ProbeArgs:
    """An HTTP GET probe (failures None: Kubernetes' default threshold)."""
    return k8s.core.v1.ProbeArgs(
        http_get=k8s.core.v1.HTTPGetActionArgs(path=path, port=port),
        period_seconds=period,
        timeout_seconds=timeout,
        failure_threshold=failures,
    )


def writable_dir(
    name: str, mount_path: str, size_mi: int = 256
) -> tuple[k8s.core.v1.VolumeArgs, k8s.core.v1.VolumeMountArgs]:
    """An emptyDir and its mount: the only way a container writes with a read-only root."""
    return (
        k8s.core.v1.VolumeArgs(
            name=name, empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit=f"{size_mi}Mi")
        ),
        k8s.core.v1.VolumeMountArgs(name=name, mount_path=mount_path),
    )


def tmp_dir(size_mi: int = 256) -> tuple[k8s.core.v1.VolumeArgs, k8s.core.v1.VolumeMountArgs]:
    """The conventional writable scratch dir every platform image uses (HOME and TMPDIR point there)."""
    return writable_dir("tmp", CONTAINER_TMP_DIR, size_mi)


def service_account(
    resource_name: str,
    account: str,
    namespace: Input[str],
    account_labels: dict[str, str],
    parent: pulumi.Resource,
) -> Output[str]:
    """A ServiceAccount of the pod's own that mounts no API token (for pods that never call the API)."""
    sa = k8s.core.v1.ServiceAccount(
        f"{resource_name}-sa",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=account, namespace=namespace, labels=account_labels),
        automount_service_account_token=False,
        opts=ResourceOptions(parent=parent),
    )
    return Output.all(sa.id, account).apply(lambda parts: str(parts[1]))
