"""Preflight: the command-line tools a cluster mode needs, checked before any resource is declared."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from infra.config import ClusterMode, ConfigError, StackConfig

Which = Callable[[str], str | None]

INSTALL_HINTS = {
    "docker": "install Docker Engine (https://docs.docker.com/engine/install/) and start the daemon",
    "kind": "install kind >= 0.27 (https://kind.sigs.k8s.io/docs/user/quick-start/#installation)",
    "minikube": "install minikube >= 1.35 (https://minikube.sigs.k8s.io/docs/start/)",
}


def required_tools(cfg: StackConfig) -> list[str]:
    """Docker builds every image; kind/minikube create their clusters and load images into them."""
    match cfg.cluster_mode:
        case ClusterMode.KIND:
            return ["docker", "kind"]
        case ClusterMode.MINIKUBE:
            return ["docker", "minikube"]
        case ClusterMode.EXISTING:
            if cfg.prebuilt_images is not None:
                return []  # nothing to build or load: the cluster pulls the prebuilt images
            # Without a registry (previews) images are loaded into the dev stack's kind cluster.
            return ["docker"] if cfg.image_registry else ["docker", "kind"]


def preflight(cfg: StackConfig, which: Which | None = None) -> None:
    """Raise ConfigError (a clean Pulumi error, no traceback) naming each missing tool and how to get it."""
    which = which or shutil.which
    missing = [tool for tool in required_tools(cfg) if which(tool) is None]
    if missing:
        hints = "; ".join(f"{tool}: {INSTALL_HINTS[tool]}" for tool in missing)
        raise ConfigError(
            f"clusterMode {cfg.cluster_mode.value} needs {', '.join(missing)} on PATH ({hints})"
        )
    if cfg.kubeconfig is not None and not Path(cfg.kubeconfig).expanduser().is_file():
        raise ConfigError(f"mlops-platform:kubeconfig: {cfg.kubeconfig!r} is not a file")
