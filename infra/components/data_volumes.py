"""The continuous-training volumes: dated training-data snapshots and the inference log.

Training mounts both read-only; serving writes the inference log; `python -m training.snapshots add` writes
snapshots through a short-lived pod. Kept on `pulumi destroy` with protectVolumes, like MLflow's volumes.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
from pulumi import Input, Output, ResourceOptions

from infra.components.namespace import TRAINING_APP
from infra.components.pod_security import labels
from mlops_contract.names import INFERENCE_LOG_CLAIM, TRAINING_DATA_CLAIM

# `python -m training.snapshots add` reads the retention from the claim: the stack config is its one source.
KEEP_SNAPSHOTS_ANNOTATION = "mlops.platform/keep-snapshots"


@dataclass(frozen=True)
class DataVolumesArgs:
    """Sizes, retention and protection of the two claims."""

    namespace: Input[str]
    """Target namespace."""
    stack: str
    """Stack name (labels)."""
    training_data_storage: str
    """Size of the snapshot volume."""
    inference_log_storage: str
    """Size of the inference log volume."""
    keep_snapshots: int
    """How many snapshots `training.snapshots add` keeps (the newest)."""
    storage_class: str | None
    """StorageClass; None uses the cluster default."""
    protect_volumes: bool
    """Keep both claims on `pulumi destroy`."""


class DataVolumes(pulumi.ComponentResource):
    """PersistentVolumeClaims `training-data` and `inference-log`."""

    training_data_claim: Output[str]
    """Claim name of the snapshot volume."""
    inference_log_claim: Output[str]
    """Claim name of the inference log volume."""

    def __init__(self, name: str, args: DataVolumesArgs, opts: ResourceOptions | None = None) -> None:
        super().__init__("mlops:index:DataVolumes", name, None, opts)
        common = labels(args.stack, TRAINING_APP, "data")
        snapshots = self._claim(
            f"{name}-training-data",
            TRAINING_DATA_CLAIM,
            args,
            args.training_data_storage,
            common,
            {KEEP_SNAPSHOTS_ANNOTATION: str(args.keep_snapshots)},
        )
        log = self._claim(
            f"{name}-inference-log", INFERENCE_LOG_CLAIM, args, args.inference_log_storage, common, {}
        )
        self.training_data_claim = snapshots.metadata.apply(lambda m: str(m.name))
        self.inference_log_claim = log.metadata.apply(lambda m: str(m.name))
        self.register_outputs(
            {"training_data_claim": self.training_data_claim, "inference_log_claim": self.inference_log_claim}
        )

    def _claim(
        self,
        resource_name: str,
        claim: str,
        args: DataVolumesArgs,
        size: str,
        claim_labels: dict[str, str],
        annotations: dict[str, str],
    ) -> k8s.core.v1.PersistentVolumeClaim:
        return k8s.core.v1.PersistentVolumeClaim(
            resource_name,
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=claim,
                namespace=args.namespace,
                labels=claim_labels,
                # Why skipAwait: see the artifact claim in mlflow_server.py (a retained, Bound claim of a
                # WaitForFirstConsumer class would time out the await); the pods that mount it cover binding.
                annotations={"pulumi.com/skipAwait": "true", **annotations},
            ),
            spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                access_modes=["ReadWriteOnce"],
                storage_class_name=args.storage_class,
                resources=k8s.core.v1.VolumeResourceRequirementsArgs(requests={"storage": size}),
            ),
            # Kept on destroy, never `protect`ed: see mlflow_server.py.
            opts=ResourceOptions(parent=self, retain_on_delete=args.protect_volumes),
        )
