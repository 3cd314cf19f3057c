"""The inference-log volume: a PVC serving writes sampled requests and feedback to, and training reads.

ReadWriteOnce works for every pod on one node (kind, minikube, local-path); a multi-node cluster needs a
ReadWriteMany class (`inferenceLogAccessMode`, `inferenceLogStorageClass`), else pods on a second node stay
Pending. Kept on destroy like the artifact volume when `protectVolumes` is on.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
from pulumi import Input, Output, ResourceOptions

from infra.components.pod_security import labels
from mlops_contract.names import INFERENCE_LOG_CLAIM, INFERENCE_LOG_MOUNT_PATH

VOLUME_NAME = "inference-log"


@dataclass(frozen=True)
class InferenceLogVolumeArgs:
    """Size, class and access mode of the claim."""

    namespace: Input[str]
    """Target namespace."""
    stack: str
    """Stack name (labels)."""
    storage: str
    """PVC size."""
    storage_class: str | None
    """None: the cluster default."""
    access_mode: str
    """ReadWriteOnce or ReadWriteMany."""
    protect: bool
    """Keep the claim (and the log) when the stack is destroyed."""


class InferenceLogVolume(pulumi.ComponentResource):
    """The `inference-log` PersistentVolumeClaim."""

    claim_name: Output[str]
    """Name of the claim, resolved once it exists (depend on it through this)."""

    def __init__(self, name: str, args: InferenceLogVolumeArgs, opts: ResourceOptions | None = None) -> None:
        super().__init__("mlops:index:InferenceLogVolume", name, None, opts)
        claim = k8s.core.v1.PersistentVolumeClaim(
            f"{name}-claim",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=INFERENCE_LOG_CLAIM,
                namespace=args.namespace,
                labels=labels(args.stack, "serving", "inference-log"),
                # As for mlflow-artifacts: a WaitForFirstConsumer claim is bound by its first pod, which the
                # serving Deployment's await covers; awaiting the claim itself times out when adopted Bound.
                annotations={"pulumi.com/skipAwait": "true"},
            ),
            spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                access_modes=[args.access_mode],
                storage_class_name=args.storage_class,
                resources=k8s.core.v1.VolumeResourceRequirementsArgs(requests={"storage": args.storage}),
            ),
            opts=ResourceOptions(parent=self, retain_on_delete=args.protect),
        )
        self.claim_name = claim.metadata.apply(lambda m: str(m.name))
        self.register_outputs({"claim_name": self.claim_name})


def inference_log_volume(
    claim_name: Input[str], read_only: bool
) -> tuple[k8s.core.v1.VolumeArgs, k8s.core.v1.VolumeMountArgs]:
    """The pod volume and container mount of the log (serving writes; training mounts it read-only)."""
    volume = k8s.core.v1.VolumeArgs(
        name=VOLUME_NAME,
        persistent_volume_claim=k8s.core.v1.PersistentVolumeClaimVolumeSourceArgs(
            claim_name=claim_name, read_only=read_only
        ),
    )
    mount = k8s.core.v1.VolumeMountArgs(
        name=VOLUME_NAME, mount_path=INFERENCE_LOG_MOUNT_PATH, read_only=read_only
    )
    return volume, mount
