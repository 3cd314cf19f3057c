"""Cluster: a kind cluster or minikube profile created (and deleted) by pulumi-command, or an existing one.

Yields how to reach the cluster (kubeconfig text and/or context); the caller builds the kubernetes Provider.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pulumi
import pulumi_command as command
import yaml
from pulumi import Output, ResourceOptions

from infra.components.network_policies import LOCAL_POD_CIDR
from infra.config import ClusterMode, HostPorts

# NodePorts the kind config maps to host ports (fixed so the mapping is known before Services exist).
# Where each cluster's API server listens (the `kubernetes` Service's endpoint): NetworkPolicies name it.
KIND_API_SERVER_PORT = 6443
MINIKUBE_API_SERVER_PORT = 8443
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
    exists: bool = True
    """kind/minikube: whether the cluster exists now (`cluster_exists`); False recreates it."""


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
        # kind's default, set explicitly: the NetworkPolicies tell pods from the node path by it.
        "networking": {"podSubnet": LOCAL_POD_CIDR},
        "nodes": [{"role": "control-plane", "image": args.kind_node_image, "extraPortMappings": mappings}],
    }
    return yaml.safe_dump(config, sort_keys=False)


def kubernetes_version_tag(node_image: str) -> str:
    """v1.33.1 from kindest/node:v1.33.1[@sha256:...]."""
    return node_image.split(":", 1)[1].split("@", 1)[0]


Runner = Callable[[str], str]
"""Runs a shell command on the machine running Pulumi and returns its stdout."""


def run_local(cmd: str) -> str:
    """stdout of `cmd` via pulumi-command's local.run invoke (it runs on every preview and update)."""
    return str(command.local.run(command=cmd).stdout or "")


def presence_probe(mode: ClusterMode) -> str | None:
    """The command that lists kind clusters / minikube profiles (None: nothing to probe)."""
    match mode:
        case ClusterMode.KIND:
            return "kind get clusters"
        case ClusterMode.MINIKUBE:
            # No profiles at all: minikube may print a message (on stderr) instead of JSON.
            return "minikube profile list -o json 2>&1"
        case ClusterMode.EXISTING:
            return None


def cluster_exists(mode: ClusterMode, name: str, run: Runner = run_local) -> bool:
    """Whether the kind cluster / minikube profile `name` exists right now (existing mode: always)."""
    probe = presence_probe(mode)
    if probe is None:
        return True
    out = run(probe)
    if mode is ClusterMode.KIND:
        # `kind get clusters` fails (and so does this program) when Docker is down: never guess "absent".
        return name in out.split()
    if not out.strip() or "No minikube profile" in out:
        return False
    try:
        listed = json.loads(out)
    except ValueError:
        return True  # unreadable answer: assume present, so nothing is deleted on a guess
    profiles = [*(listed.get("valid") or []), *(listed.get("invalid") or [])]
    return name in {profile.get("Name") for profile in profiles}


def kind_commands(name: str) -> tuple[str, str]:
    """(create-or-adopt, delete) for a kind cluster; the first is also the update (idempotent)."""
    # kind refuses to create an existing cluster ("node(s) already exist"): create only when absent, then
    # print the kubeconfig either way. kind's progress goes to stderr; stdout is only the kubeconfig.
    ensure = (
        f"{{ kind get clusters | grep -qx {name} "
        f"|| kind create cluster --name {name} --config - --wait 180s; }} 1>&2 "
        f"&& kind get kubeconfig --name {name}"
    )
    return ensure, f"kind delete cluster --name {name}"


def minikube_commands(name: str, kubernetes_version: str) -> tuple[str, str]:
    """(create-or-start, delete) for a minikube profile; `minikube start` is idempotent: also the update."""
    # stdout: the node container's id (docker driver), which changes whenever the profile is recreated.
    ensure = (
        f"minikube start -p {name} --driver docker --kubernetes-version {kubernetes_version} "
        "--wait all 1>&2 "
        f"&& docker inspect --format '{{{{.Id}}}}' {name}"
    )
    return ensure, f"minikube delete -p {name}"


def _fingerprint(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


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
    identity: Output[str] | None
    """Changes whenever the cluster is (re)created (kind/minikube): what images are loaded into."""

    def __init__(self, name: str, args: ClusterArgs, opts: ResourceOptions | None = None) -> None:
        super().__init__("mlops:index:Cluster", name, None, opts)
        self.mode = args.mode
        self.kubeconfig = None
        self.context = args.context
        self.created: list[pulumi.Resource] = []
        self.identity = None
        match args.mode:
            case ClusterMode.KIND:
                kind = self._kind(name, args)
                self.kubeconfig = kind.stdout
                self._track(kind)
            case ClusterMode.MINIKUBE:
                self._track(self._minikube(name, args))
                # minikube writes its context (named after the profile) into the default kubeconfig.
                self.context = args.name
            case ClusterMode.EXISTING:
                # The Provider takes a kubeconfig path as well as its contents.
                if args.kubeconfig_path:
                    self.kubeconfig = Output.from_input(args.kubeconfig_path)
        self.register_outputs(
            {"kubeconfig": self.kubeconfig, "context": self.context, "identity": self.identity}
        )

    def _track(self, created: command.local.Command) -> None:
        """The Provider waits for `created`; image loads follow its identity."""
        self.created = [created]
        # A fingerprint of what the create command printed (kind: the kubeconfig with the new cluster's CA
        # and port; minikube: the node container id). Not secret: a truncated hash reveals nothing.
        self.identity = Output.unsecret(created.stdout.apply(_fingerprint))

    def _kind(self, name: str, args: ClusterArgs) -> command.local.Command:
        ensure, delete = kind_commands(args.name)
        return command.local.Command(
            f"{name}-kind",
            create=ensure,
            update=ensure,
            delete=delete,
            # The cluster config on stdin: kind cannot change a cluster's nodes, ports or name in place.
            stdin=kind_config(args),
            triggers=[recreate_token(args.exists)],
            # The kubeconfig (with the client key) is stdout: not in the progress output, encrypted in state.
            logging=command.local.Logging.STDERR,
            opts=_lifecycle_opts(self, args.exists, replace_on="stdin", secret_stdout=True),
        )

    def _minikube(self, name: str, args: ClusterArgs) -> command.local.Command:
        ensure, delete = minikube_commands(args.name, kubernetes_version_tag(args.kind_node_image))
        return command.local.Command(
            f"{name}-minikube",
            create=ensure,
            update=ensure,
            delete=delete,
            triggers=[recreate_token(args.exists)],
            # minikube start ignores changed driver/version flags on an existing profile: a new create
            # command means a new profile.
            opts=_lifecycle_opts(self, args.exists, replace_on="create", secret_stdout=False),
        )


def recreate_token(exists: bool) -> str:
    """`triggers` value: ignored while the cluster exists; fresh (hence a replacement) when it is gone."""
    return "present" if exists else f"absent-{uuid.uuid4().hex}"


def _lifecycle_opts(
    parent: pulumi.Resource, exists: bool, replace_on: str, secret_stdout: bool
) -> ResourceOptions:
    """Replace (old one deleted first: same name) on real changes or when the cluster vanished."""
    return ResourceOptions(
        parent=parent,
        delete_before_replace=True,
        replace_on_changes=[replace_on],
        # While the cluster exists the recorded token stands (no diff); once it is gone (deleted by hand) a
        # new token differs from the recorded one, so the next `pulumi up` recreates it.
        ignore_changes=["triggers"] if exists else None,
        additional_secret_outputs=["stdout"] if secret_stdout else None,
    )
