"""The stack config of a preview: the dev cluster, its own namespace, nothing protected or published.

Only these keys are set; every other key keeps its Pulumi.yaml default. Values are the strings Pulumi
config stores.
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.config import PROJECT, ClusterMode
from previews.naming import PreviewName

PREFIX = f"{PROJECT}:"


def key(name: str) -> str:
    """A fully qualified config key, e.g. mlops-platform:namespace."""
    return f"{PREFIX}{name}"


def short(full_key: str) -> str:
    """mlops-platform:namespace -> namespace."""
    return full_key.removeprefix(PREFIX)


@dataclass(frozen=True)
class PreviewTarget:
    """Which cluster previews go to."""

    cluster_name: str
    """The dev stack's kind cluster, which images are loaded into."""
    kube_context: str
    """kubeconfig context of that cluster (kind names it kind-<cluster>)."""


def preview_config(name: PreviewName, target: PreviewTarget, expires_at: str) -> dict[str, str]:
    """Every config key `create` sets, fully qualified."""
    values = {
        # The dev stack owns the kind cluster; a preview only borrows it, so destroying one never deletes it.
        "clusterMode": ClusterMode.EXISTING.value,
        "kubeContext": target.kube_context,
        "clusterName": target.cluster_name,
        "namespace": name.namespace,
        "preview": "true",
        # Throwaway data: `pulumi destroy` must be able to delete the volumes.
        "protectVolumes": "false",
        # Several previews share one cluster: fixed NodePorts/host ports would collide.
        "exposeOnHost": "false",
        "servingReplicas": "1",
        "servingMaxReplicas": "1",
        "expiresAt": expires_at,
    }
    return {key(k): v for k, v in values.items()}
