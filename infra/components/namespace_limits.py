"""A ResourceQuota and a LimitRange for the stack namespace: a cap on what anything running there can claim.

The platform's own pods all set requests and limits (pod_security.Resources); the quota bounds the namespace
as a whole, so a runaway (or forged) workload, e.g. Jobs created in a loop, cannot take the cluster, and the
LimitRange gives a container that forgets its resources sane defaults and caps any single container. The
quota leaves room for the serving HPA at its maximum, rolling updates and retraining Jobs running next to
the bootstrap (docs/security.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
from pulumi import Input, ResourceOptions

from infra.components.pod_security import labels

QUOTA_NAME = "mlops-quota"
LIMIT_RANGE_NAME = "mlops-limits"
QUOTA_HARD = {
    "requests.cpu": "8",
    "requests.memory": "16Gi",
    "limits.cpu": "32",
    "limits.memory": "32Gi",
    "pods": "60",
    "count/jobs.batch": "30",
    "persistentvolumeclaims": "10",
    "services.nodeports": "6",
}
CONTAINER_DEFAULT_REQUEST = {"cpu": "50m", "memory": "64Mi"}
CONTAINER_DEFAULT_LIMIT = {"cpu": "500m", "memory": "256Mi"}
CONTAINER_MAX = {"cpu": "2", "memory": "2Gi"}


@dataclass(frozen=True)
class NamespaceLimitsArgs:
    """Which namespace to cap."""

    namespace: Input[str]
    stack: str


class NamespaceLimits(pulumi.ComponentResource):
    """ResourceQuota + LimitRange."""

    def __init__(self, name: str, args: NamespaceLimitsArgs, opts: ResourceOptions | None = None) -> None:
        super().__init__("mlops:index:NamespaceLimits", name, None, opts)
        meta = labels(args.stack, "mlops-platform", "namespace")
        k8s.core.v1.ResourceQuota(
            f"{name}-quota",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=QUOTA_NAME, namespace=args.namespace, labels=meta),
            spec=k8s.core.v1.ResourceQuotaSpecArgs(hard=QUOTA_HARD),
            opts=ResourceOptions(parent=self),
        )
        k8s.core.v1.LimitRange(
            f"{name}-limits",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=LIMIT_RANGE_NAME, namespace=args.namespace, labels=meta),
            spec=k8s.core.v1.LimitRangeSpecArgs(
                limits=[
                    k8s.core.v1.LimitRangeItemArgs(
                        type="Container",
                        default_request=CONTAINER_DEFAULT_REQUEST,
                        default=CONTAINER_DEFAULT_LIMIT,
                        max=CONTAINER_MAX,
                    )
                ]
            ),
            opts=ResourceOptions(parent=self),
        )
        self.register_outputs({})
