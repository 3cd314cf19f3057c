"""The platform's traffic matrix as NetworkPolicies: who may talk to whom, on which port, and nothing else.

Every pod starts from default-deny (ingress and egress). Each allowed flow inside the namespace is opened on
both ends (the client's egress and the server's ingress); the only flows that leave the namespace are DNS to
the cluster DNS pods and the API server for the three pods that watch or create objects; the only ingress
from outside the namespace is the node path (NodePort traffic from the host), and only for the Services a
stack exposes on the host. docs/security.md shows the same matrix as a table; tests/infra derives the matrix
from the rendered policies and compares it with that table.

NetworkPolicy is enforced on kind (kindnet, since kind v0.24), minikube with a policy-capable CNI, and
Calico/Cilium clusters; on a CNI that does not enforce it these objects change nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pulumi_kubernetes as k8s

from infra.components.pod_security import selector
from mlops_contract.names import MLFLOW_PORT, RETRAIN_TRIGGER_PORT, SERVING_METRICS_PORT, SERVING_PORT
from monitoring.prometheus_config import ALERTMANAGER_PORT, KUBE_STATE_METRICS_PORT

POSTGRES_PORT = 5432
PROMETHEUS_PORT = 9090
GRAFANA_PORT = 3000
DNS_PORT = 53

# app name -> what it is, used in selectors below and by the components that run them.
MLFLOW_APP = "mlflow"
POSTGRES_APP = "mlflow-postgres"
SERVING_APP = "serving"
TRAINING_APP = "training"
PROMETHEUS_APP = "prometheus"
GRAFANA_APP = "grafana"
ALERTMANAGER_APP = "alertmanager"
RETRAIN_TRIGGER_APP = "retrain-trigger"
KUBE_STATE_APP = "kube-state-metrics"
# The Job that creates the per-workload MLflow users (mlflow_identities.py).
IDENTITIES_APP = "mlflow-identities"
# Day-2 pods (schema migration Job, backup and garbage-collection CronJobs): clients of PostgreSQL and MLflow
# under a label of their own, so the MLflow Service never selects them.
MLFLOW_MAINTENANCE_APP = "mlflow-maintenance"

# The cluster DNS pods (CoreDNS on kind, minikube and most distributions keeps the kube-dns label).
DNS_NAMESPACE = "kube-system"
DNS_POD_LABELS = {"k8s-app": "kube-dns"}
# kind and minikube both give pods 10.244.0.0/16 (kind's config sets it explicitly, see cluster.py).
LOCAL_POD_CIDR = "10.244.0.0/16"
ANYWHERE = "0.0.0.0/0"


@dataclass(frozen=True)
class Flow:
    """One allowed connection: `client` opens it to `server` on `port`."""

    client: str
    server: str
    port: int


# Inside the namespace: every client and the port it needs. Nothing else in the namespace can connect.
NAMESPACE_FLOWS: tuple[Flow, ...] = (
    Flow(MLFLOW_APP, POSTGRES_APP, POSTGRES_PORT),
    Flow(MLFLOW_MAINTENANCE_APP, POSTGRES_APP, POSTGRES_PORT),
    Flow(MLFLOW_MAINTENANCE_APP, MLFLOW_APP, MLFLOW_PORT),
    Flow(SERVING_APP, MLFLOW_APP, MLFLOW_PORT),
    Flow(TRAINING_APP, MLFLOW_APP, MLFLOW_PORT),
    Flow(IDENTITIES_APP, MLFLOW_APP, MLFLOW_PORT),
    Flow(GRAFANA_APP, PROMETHEUS_APP, PROMETHEUS_PORT),
    # Prometheus: its scrape targets (prometheus_config.cluster_layout) and Alertmanager, nothing else.
    Flow(PROMETHEUS_APP, SERVING_APP, SERVING_METRICS_PORT),
    Flow(PROMETHEUS_APP, MLFLOW_APP, MLFLOW_PORT),
    Flow(PROMETHEUS_APP, KUBE_STATE_APP, KUBE_STATE_METRICS_PORT),
    Flow(PROMETHEUS_APP, ALERTMANAGER_APP, ALERTMANAGER_PORT),
    Flow(ALERTMANAGER_APP, RETRAIN_TRIGGER_APP, RETRAIN_TRIGGER_PORT),
)
# The Services a stack with NodePorts publishes on the host (cluster.NODE_PORTS): (app, port).
HOST_EXPOSED: tuple[tuple[str, int], ...] = (
    (MLFLOW_APP, MLFLOW_PORT),
    (SERVING_APP, SERVING_PORT),
    (GRAFANA_APP, GRAFANA_PORT),
    (PROMETHEUS_APP, PROMETHEUS_PORT),
)
# Pods that talk to the API server: Prometheus (pod discovery), kube-state-metrics (watches), the retrain
# trigger (creates Jobs).
API_CLIENTS: tuple[str, ...] = (PROMETHEUS_APP, KUBE_STATE_APP, RETRAIN_TRIGGER_APP)


@dataclass(frozen=True)
class NetworkArgs:
    """What the cluster lets the policies say."""

    host_exposed: bool
    """Services are NodePorts published on the host (kind/minikube with exposeOnHost)."""
    pod_cidr: str | None
    """The cluster's pod network, when known (kind/minikube): the node path and the API server are
    everything outside it. None (existing clusters): unknown, so API-server egress is limited by port only."""
    api_server_ports: tuple[int, ...]
    """Ports the API server answers on: 443 (the `kubernetes` Service, if the CNI sees traffic before
    DNAT) and the endpoint's own port after DNAT (kind 6443, minikube 8443, managed clusters 443/6443)."""

    def __post_init__(self) -> None:
        if self.host_exposed and self.pod_cidr is None:
            # Without the pod network the node path cannot be told from other namespaces' pods.
            raise ValueError("host_exposed needs pod_cidr")


def _pods(app: str) -> k8s.networking.v1.NetworkPolicyPeerArgs:
    return k8s.networking.v1.NetworkPolicyPeerArgs(
        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector(app))
    )


def _outside_pods(pod_cidr: str | None) -> k8s.networking.v1.NetworkPolicyPeerArgs:
    """Any address but a pod's: the node (NodePort traffic is SNATed to it) or the API server endpoint."""
    return k8s.networking.v1.NetworkPolicyPeerArgs(
        ip_block=k8s.networking.v1.IPBlockArgs(cidr=ANYWHERE, except_=[pod_cidr] if pod_cidr else None)
    )


def _ports(ports: Iterable[int], protocol: str = "TCP") -> list[k8s.networking.v1.NetworkPolicyPortArgs]:
    return [k8s.networking.v1.NetworkPolicyPortArgs(port=p, protocol=protocol) for p in ports]


def _app_selector(app: str | None) -> k8s.meta.v1.LabelSelectorArgs:
    return k8s.meta.v1.LabelSelectorArgs(match_labels=selector(app) if app else None)


def policy_specs(args: NetworkArgs) -> dict[str, k8s.networking.v1.NetworkPolicySpecArgs]:
    """Policy name -> spec: default-deny, DNS, then an ingress and an egress policy per app that needs one."""
    specs = {
        "default-deny": k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=_app_selector(None), policy_types=["Ingress", "Egress"]
        ),
        "allow-dns": k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=_app_selector(None),
            policy_types=["Egress"],
            egress=[
                k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                    to=[
                        k8s.networking.v1.NetworkPolicyPeerArgs(
                            namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                                match_labels={"kubernetes.io/metadata.name": DNS_NAMESPACE}
                            ),
                            pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=DNS_POD_LABELS),
                        )
                    ],
                    ports=_ports([DNS_PORT], "UDP") + _ports([DNS_PORT]),
                )
            ],
        ),
    }
    exposed = set(HOST_EXPOSED) if args.host_exposed else set()
    servers = sorted({f.server for f in NAMESPACE_FLOWS} | {app for app, _ in exposed})
    for server in servers:
        rules = []
        ports = sorted(
            {f.port for f in NAMESPACE_FLOWS if f.server == server} | {p for a, p in exposed if a == server}
        )
        for port in sorted(ports):
            peers = [_pods(f.client) for f in NAMESPACE_FLOWS if f.server == server and f.port == port]
            if (server, port) in exposed:
                peers.append(_outside_pods(args.pod_cidr))
            rules.append(k8s.networking.v1.NetworkPolicyIngressRuleArgs(from_=peers, ports=_ports([port])))
        specs[f"allow-ingress-{server}"] = k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=_app_selector(server), policy_types=["Ingress"], ingress=rules
        )
    clients = sorted({f.client for f in NAMESPACE_FLOWS} | set(API_CLIENTS))
    for client in clients:
        egress = [
            k8s.networking.v1.NetworkPolicyEgressRuleArgs(to=[_pods(f.server)], ports=_ports([f.port]))
            for f in NAMESPACE_FLOWS
            if f.client == client
        ]
        if client in API_CLIENTS:
            egress.append(
                k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                    to=[_outside_pods(args.pod_cidr)] if args.pod_cidr else None,
                    ports=_ports(args.api_server_ports),
                )
            )
        specs[f"allow-egress-{client}"] = k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=_app_selector(client), policy_types=["Egress"], egress=egress
        )
    return specs
