"""A stand-in for kind's local-path provisioner, for the simulated cluster (no storage runs there).

Like the real one it provisions a volume for each claim of the StorageClass once the scheduler picked a
node (WaitForFirstConsumer), and deletes the volume when its claim is gone (reclaim policy Delete), so the
tier sees the same claim lifecycle, and the same leftovers, as a kind cluster.
"""

from __future__ import annotations

import threading
from typing import Any

PROVISIONER = "mlops.engine/simulated-local-path"
_SELECTED_NODE = "volume.kubernetes.io/selected-node"
_LABEL = "mlops.engine/provisioned"


def _volume(claim: Any, node: str) -> dict[str, Any]:
    meta = claim.metadata
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        # Marked as ours, so the PV controller leaves deleting it to us (as to any external provisioner).
        "metadata": {
            "name": f"pvc-{meta.uid}",
            "labels": {_LABEL: "true"},
            "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER},
        },
        "spec": {
            "capacity": {"storage": claim.spec.resources.requests["storage"]},
            "accessModes": claim.spec.access_modes,
            "storageClassName": claim.spec.storage_class_name,
            "persistentVolumeReclaimPolicy": "Delete",
            # Pre-bound: the PV controller binds exactly this claim, as after dynamic provisioning.
            "claimRef": {"namespace": meta.namespace, "name": meta.name, "uid": meta.uid},
            "hostPath": {"path": f"/var/simulated/{meta.uid}"},
            "nodeAffinity": {
                "required": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}
                            ]
                        }
                    ]
                }
            },
        },
    }


def provision_once(core: Any, storage_class: str) -> None:
    """One pass: a volume for every waiting claim of the class, no volume without its claim."""
    from kubernetes.client.exceptions import ApiException

    for claim in core.list_persistent_volume_claim_for_all_namespaces().items:
        node = (claim.metadata.annotations or {}).get(_SELECTED_NODE)
        if claim.spec.storage_class_name != storage_class or claim.spec.volume_name or not node:
            continue
        try:
            core.create_persistent_volume(_volume(claim, node))
        except ApiException as exc:
            if exc.status != 409:  # already provisioned on an earlier pass
                raise
    for volume in core.list_persistent_volume(label_selector=f"{_LABEL}=true").items:
        if volume.status.phase in {"Released", "Failed"}:
            try:
                core.delete_persistent_volume(volume.metadata.name)
            except ApiException as exc:
                if exc.status != 404:
                    raise


class Provisioner:
    """Runs provision_once every half second in a daemon thread until stop()."""

    def __init__(self, core: Any, storage_class: str) -> None:
        self._core = core
        self._class = storage_class
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="simulated-provisioner", daemon=True)
        self.errors: list[str] = []

    def start(self) -> Provisioner:
        """Begin provisioning."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """End the loop and wait for it."""
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            try:
                provision_once(self._core, self._class)
            except Exception as exc:
                self.errors.append(str(exc))
