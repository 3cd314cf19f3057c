"""The training-data volume: dated snapshots that every training run reads the newest of.

Training mounts it read-only; `python -m training.snapshots add` writes snapshots through a short-lived pod
and applies the retention this claim carries. Kept on `pulumi destroy` with protectVolumes, like MLflow's.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
from pulumi import Input, Output, ResourceOptions

from infra.components.namespace import TRAINING_APP
from infra.components.pod_security import labels
from mlops_contract.names import TRAINING_DATA_CLAIM

# `python -m training.snapshots add` reads the retention from the claim: the stack config is its one source.
KEEP_SNAPSHOTS_ANNOTATION = "mlops.platform/keep-snapshots"


@dataclass(frozen=True)
class TrainingDataVolumeArgs:
    """Size, retention and protection of the claim."""

    namespace: Input[str]
    """Target namespace."""
    stack: str
    """Stack name (labels)."""
    storage: str
    """PVC size."""
    keep_snapshots: int
    """How many snapshots `training.snapshots add` keeps (the newest)."""
    storage_class: str | None
    """StorageClass; None uses the cluster default."""
    protect: bool
    """Keep the claim on `pulumi destroy`."""


class TrainingDataVolume(pulumi.ComponentResource):
    """The `training-data` PersistentVolumeClaim."""

    claim_name: Output[str]
    """Name of the claim, resolved once it exists (depend on it through this)."""

    def __init__(self, name: str, args: TrainingDataVolumeArgs, opts: ResourceOptions | None = None) -> None:
        super().__init__("mlops:index:TrainingDataVolume", name, None, opts)
        claim = k8s.core.v1.PersistentVolumeClaim(
            f"{name}-claim",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=TRAINING_DATA_CLAIM,
                namespace=args.namespace,
                labels=labels(args.stack, TRAINING_APP, "training-data"),
                # Why skipAwait: see the artifact claim in mlflow_server.py (a retained, Bound claim of a
                # WaitForFirstConsumer class would time out the await); the training Job covers binding.
                annotations={
                    "pulumi.com/skipAwait": "true",
                    KEEP_SNAPSHOTS_ANNOTATION: str(args.keep_snapshots),
                },
            ),
            spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                access_modes=["ReadWriteOnce"],
                storage_class_name=args.storage_class,
                resources=k8s.core.v1.VolumeResourceRequirementsArgs(requests={"storage": args.storage}),
            ),
            # Kept on destroy, never `protect`ed: see mlflow_server.py.
            opts=ResourceOptions(parent=self, retain_on_delete=args.protect),
        )
        self.claim_name = claim.metadata.apply(lambda m: str(m.name))
        self.register_outputs({"claim_name": self.claim_name})
