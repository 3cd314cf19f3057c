"""What one end-to-end run uses: stack name, cluster, state backend, model, ports and time budgets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

from infra.config import PROJECT
from stacks.backend import Backend

CLUSTER_NAME: Final = "mlops-e2e"
# Pulumi config of the throwaway stack (keys without the project prefix, values as Pulumi config stores
# them). Volumes are unprotected so `pulumi destroy` can delete everything.
STACK_SETTINGS: Final = {"clusterMode": "kind", "clusterName": CLUSTER_NAME, "protectVolumes": "false"}
# Host ports the kind config maps (Pulumi.yaml keys); the preflight checks they are free.
HOST_PORT_KEYS: Final = ("mlflowHostPort", "servingHostPort", "grafanaHostPort", "prometheusHostPort")


def stack_name(now: datetime) -> str:
    """e2e-20250131-184501: unique per run and sortable."""
    return f"e2e-{now:%Y%m%d-%H%M%S}"


@dataclass(frozen=True)
class E2eConfig:
    """Everything a run needs, resolved once at the command line's edge."""

    stack: str
    """Throwaway Pulumi stack name."""
    repo_root: Path
    """Where Pulumi.yaml is (the workspace of the stack)."""
    run_dir: Path
    """Logs of this run (.state/e2e/<stack>/)."""
    backend: Backend
    """A file:// backend in a temporary directory, and the passphrase of the stack's secrets."""
    model_name: str
    """Registered model the bootstrap Job trains and serving serves (Pulumi.yaml default)."""
    host_ports: tuple[int, ...]
    """Host ports kind maps (must be free before the run)."""
    cluster_name: str = CLUSTER_NAME
    """kind cluster the stack creates."""
    smoke_timeout: float = 300.0
    """Seconds each smoke check retries before it fails."""
    poll_interval: float = 5.0
    """Seconds between smoke check attempts."""

    @property
    def kube_context(self) -> str:
        """The kubeconfig context kind writes for the cluster."""
        return f"kind-{self.cluster_name}"

    @property
    def stack_file(self) -> Path:
        """The stack config file `pulumi stack init` writes (and `pulumi stack rm` deletes)."""
        return self.repo_root / f"Pulumi.{self.stack}.yaml"

    def stack_settings(self) -> dict[str, str]:
        """Pulumi config of the stack."""
        return {**STACK_SETTINGS, "clusterName": self.cluster_name}

    def stack_config(self) -> dict[str, str]:
        """The same config with fully qualified keys (mlops-platform:clusterMode), for the workspace."""
        return {f"{PROJECT}:{key}": value for key, value in self.stack_settings().items()}
