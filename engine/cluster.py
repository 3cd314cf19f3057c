"""A Kubernetes control plane with simulated nodes: kwokctl's binary runtime on the locally built tools.

Real kube-apiserver (with RBAC and admission: Pod Security, ValidatingAdmissionPolicy), etcd,
kube-controller-manager and kube-scheduler; kwok stands in for the kubelet, so pods become Ready and Job
pods complete without any container running. Nothing here enforces NetworkPolicy.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine import pins
from engine.builds import KWOK_DEFAULT_STAGES
from engine.provisioner import PROVISIONER
from engine.tools import Toolbox

FAILING_IMAGE = "registry.example.com/mlops/fails-on-start@sha256:" + "f" * 64
"""A Job pod with this image fails (an extra kwok stage): how the tier makes a Job fail without a kubelet."""

_FAIL_STAGE = f"""apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: mlops-pod-fail
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  # Outweighs pod-complete, which matches the same running Job pods.
  weight: 1000
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values: ['Running']
    - key: '.spec.containers.[].image'
      operator: 'In'
      values: ['{FAILING_IMAGE}']
  next:
    statusTemplate: |
      phase: Failed
      containerStatuses:
      {{{{ range .spec.containers }}}}
      - image: {{{{ .image | Quote }}}}
        name: {{{{ .name | Quote }}}}
        ready: false
        restartCount: 0
        state:
          terminated:
            exitCode: 1
            reason: Error
      {{{{ end }}}}
"""

STORAGE_CLASS = "standard"
"""kind's default StorageClass name, so stacks behave as on kind."""
NODE_NAME = "kwok-node-0"


class ClusterError(RuntimeError):
    """The control plane did not come up (or go away); the message carries kwokctl's last words."""


@dataclass(frozen=True)
class KwokCluster:
    """One running simulated cluster."""

    name: str
    """kwokctl cluster name."""
    kubeconfig: Path
    """A kubeconfig holding only this cluster's context."""
    workdir: Path
    """kwokctl's state (certificates, logs, component pids)."""

    @property
    def context(self) -> str:
        """The kubeconfig context kwokctl writes."""
        return f"kwok-{self.name}"


def _kwokctl(toolbox: Toolbox, workdir: Path, args: list[str], timeout: float) -> str:
    # The Kubernetes version decides the components' flags; kwokctl takes it from the environment only.
    env = {**os.environ, "KWOK_WORKDIR": str(workdir), "KWOK_KUBE_VERSION": f"v{pins.KUBERNETES}"}
    try:
        result = subprocess.run(
            [str(toolbox.path("kwokctl")), *args], env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as exc:
        raise ClusterError(f"kwokctl {' '.join(args[:3])} timed out after {timeout:.0f}s") from exc
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-20:])
        raise ClusterError(f"kwokctl {' '.join(args[:3])} failed:\n{tail}")
    return result.stdout


def create_cluster(toolbox: Toolbox, name: str, workdir: Path) -> KwokCluster:
    """Start the control plane, then add one simulated node and kind's default StorageClass."""
    kubeconfig = workdir / "kubeconfig"
    binaries = {
        "--kube-apiserver-binary": "kube-apiserver",
        "--kube-controller-manager-binary": "kube-controller-manager",
        "--kube-scheduler-binary": "kube-scheduler",
        "--kwok-controller-binary": "kwok",
        "--etcd-binary": "etcd",
    }
    args = ["create", "cluster", "--name", name, "--runtime", "binary"]
    args += [f"{flag}={toolbox.path(binary)}" for flag, binary in binaries.items()]
    args += ["--config", str(_stages_file(toolbox, workdir))]
    args += ["--kubeconfig", str(kubeconfig), "--wait", "120s", "--quiet-pull"]
    _kwokctl(toolbox, workdir, args, timeout=300)
    cluster = KwokCluster(name=name, kubeconfig=kubeconfig, workdir=workdir)
    _add_node_and_storage(cluster)
    return cluster


def _stages_file(toolbox: Toolbox, workdir: Path) -> Path:
    """kwok's default stages plus the failing-image one (given any stage, kwok uses only those given)."""
    documents = [toolbox.asset(f"kustomize/stage/{path}").read_text() for path in KWOK_DEFAULT_STAGES]
    path = workdir / "stages.yaml"
    path.write_text("\n---\n".join([*documents, _FAIL_STAGE]))
    return path


def delete_cluster(toolbox: Toolbox, cluster: KwokCluster) -> None:
    """Stop every component and remove kwokctl's state for the cluster."""
    _kwokctl(toolbox, cluster.workdir, ["delete", "cluster", "--name", cluster.name], timeout=120)


def api_client(cluster: KwokCluster) -> Any:
    """A kubernetes.client.ApiClient for the cluster."""
    from kubernetes import config

    return config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(cluster.kubeconfig), context=cluster.context
    )


def _add_node_and_storage(cluster: KwokCluster) -> None:
    from kubernetes import client

    api = api_client(cluster)
    core: Any = client.CoreV1Api(api)
    capacity = {"cpu": "32", "memory": "128Gi", "pods": "110", "ephemeral-storage": "100Gi"}
    node: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": NODE_NAME,
            # kwok manages only nodes it is told to (kwokctl's default selector).
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {"kubernetes.io/hostname": NODE_NAME, "type": "kwok"},
        },
        "status": {"capacity": capacity, "allocatable": capacity},
    }
    core.create_node(node)
    storage_class: dict[str, Any] = {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": STORAGE_CLASS,
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
        },
        # As kind's: volumes made for a claim once its pod is scheduled, deleted with the claim
        # (engine/provisioner.py plays the provisioner).
        "provisioner": PROVISIONER,
        "volumeBindingMode": "WaitForFirstConsumer",
        "reclaimPolicy": "Delete",
    }
    storage: Any = client.StorageV1Api(api)
    storage.create_storage_class(storage_class)
    _wait_node_ready(core)


def _wait_node_ready(core: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        node = core.read_node(NODE_NAME)
        conditions = {c.type: c.status for c in (node.status.conditions or [])}
        if conditions.get("Ready") == "True":
            return
        time.sleep(0.5)
    raise ClusterError(f"node {NODE_NAME} did not become Ready within {timeout:.0f}s (is kwok running?)")
