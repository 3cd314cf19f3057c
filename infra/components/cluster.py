"""Cluster: a kind cluster or minikube profile created (and deleted) by pulumi-command, or an existing one.

Yields how to reach the cluster (kubeconfig text and/or context); the caller builds the kubernetes Provider.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_command as command
import yaml
from pulumi import Output, ResourceOptions

from infra.config import ClusterMode, HostPorts

# NodePorts the kind config maps to host ports (fixed so the mapping is known before Services exist).
NODE_PORTS = {"mlflow": 30500, "serving": 30800, "grafana": 30300, "prometheus": 30900}


@dataclass(frozen=True)
class ClusterArgs:
    """What cluster to create or use."""

    mode: ClusterMode
    """kind, minikube or existing."""
    name: str
    """kind cluster name / minikube profile."""
    kind_node_image: str
    """Pinned node image (kind) whose Kubernetes version minikube also uses."""
    host_ports: HostPorts
    """Host ports kind maps to the NodePort Services."""
    kubeconfig_path: str | None = None
    """existing: kubeconfig file (None: default)."""
    context: str | None = None
    """existing: context (None: current)."""


def kind_config(args: ClusterArgs) -> str:
    """The kind cluster config: one node, pinned image, host port mappings for the platform's NodePorts."""
    mappings = [
        {
            "containerPort": NODE_PORTS["mlflow"],
            "hostPort": args.host_ports.mlflow,
            "listenAddress": "127.0.0.1",
        },
        {
            "containerPort": NODE_PORTS["serving"],
            "hostPort": args.host_ports.serving,
            "listenAddress": "127.0.0.1",
        },
        {
            "containerPort": NODE_PORTS["grafana"],
            "hostPort": args.host_ports.grafana,
            "listenAddress": "127.0.0.1",
        },
        {
            "containerPort": NODE_PORTS["prometheus"],
            "hostPort": args.host_ports.prometheus,
            "listenAddress": "127.0.0.1",
        },
    ]
    config = {
        "kind": "Cluster",
        "apiVersion": "kind.x-k8s.io/v1alpha4",
        "name": args.name,
        "nodes": [{"role": "control-plane", "image": args.kind_node_image, "extraPortMappings": mappings}],
    }
    return yaml.safe_dump(config, sort_keys=False)


def kubernetes_version_tag(node_image: str) -> str:
    """v1.33.1 from kindest/node:v1.33.1[@sha256:...]."""
    return node_image.split(":", 1)[1].split("@", 1)[0]


class Cluster(pulumi.ComponentResource):
    """A cluster the platform can deploy to."""

    mode: ClusterMode
    """How the cluster was obtained."""
    kubeconfig: Output[str] | None
    """Kubeconfig text (kind) or path (existing); None when the default kubeconfig + `context` apply."""
    context: str | None
    """Context name to select, if any."""
    created: list[pulumi.Resource]
    """The cluster-creating commands (the Provider depends on them)."""

    def __init__(self, name: str, args: ClusterArgs, opts: ResourceOptions | None = None) -> None:
        super().__init__("mlops:index:Cluster", name, None, opts)
        self.mode = args.mode
        self.kubeconfig = None
        self.context = args.context
        self.created: list[pulumi.Resource] = []
        match args.mode:
            case ClusterMode.KIND:
                created = command.local.Command(
                    f"{name}-kind",
                    # The config goes on stdin; the kubeconfig (stdout) is what the Provider uses.
                    create=f"kind create cluster --name {args.name} --config - --wait 180s 1>&2 "
                    f"&& kind get kubeconfig --name {args.name}",
                    delete=f"kind delete cluster --name {args.name}",
                    stdin=kind_config(args),
                    opts=ResourceOptions(parent=self, additional_secret_outputs=["stdout"]),
                )
                self.kubeconfig = created.stdout
                self.created = [created]
            case ClusterMode.MINIKUBE:
                # minikube writes its context (named after the profile) into the default kubeconfig.
                created = command.local.Command(
                    f"{name}-minikube",
                    create=f"minikube start -p {args.name} --driver docker "
                    f"--kubernetes-version {kubernetes_version_tag(args.kind_node_image)} --wait all",
                    delete=f"minikube delete -p {args.name}",
                    opts=ResourceOptions(parent=self),
                )
                self.context = args.name
                self.created = [created]
            case ClusterMode.EXISTING:
                # The Provider takes a kubeconfig path as well as its contents.
                if args.kubeconfig_path:
                    self.kubeconfig = Output.from_input(args.kubeconfig_path)
        self.register_outputs({"kubeconfig": self.kubeconfig, "context": self.context})
