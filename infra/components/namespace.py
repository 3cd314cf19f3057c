"""Namespace with Pod Security Standards `restricted` enforced, default-deny NetworkPolicy and the allows.

The allows are the platform's traffic matrix: who may talk to whom, on which port. (kind's default CNI does
not enforce NetworkPolicy; Calico/Cilium clusters do. The policies are correct either way.)
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
from pulumi import ResourceOptions

from infra.components.pod_security import labels, selector
from mlops_contract.names import MLFLOW_PORT, RETRAIN_TRIGGER_PORT, RETRAIN_TRIGGER_SERVICE_NAME, SERVING_PORT
from monitoring.prometheus_config import ALERTMANAGER_PORT, KUBE_STATE_METRICS_PORT

POSTGRES_PORT = 5432
PROMETHEUS_PORT = 9090
GRAFANA_PORT = 3000
KUBE_STATE_PORT = KUBE_STATE_METRICS_PORT

# app name -> what it is, used in selectors below and by the components that run them.
MLFLOW_APP = "mlflow"
POSTGRES_APP = "mlflow-postgres"
# Day-2 pods (schema migration Job, backup and garbage-collection CronJobs): clients of PostgreSQL and MLflow
# under a label of their own, so the MLflow Service never selects them.
MLFLOW_MAINTENANCE_APP = "mlflow-maintenance"
SERVING_APP = "serving"
TRAINING_APP = "training"
PROMETHEUS_APP = "prometheus"
GRAFANA_APP = "grafana"
ALERTMANAGER_APP = "alertmanager"
RETRAIN_TRIGGER_APP = RETRAIN_TRIGGER_SERVICE_NAME
KUBE_STATE_APP = "kube-state-metrics"
# A preview's namespace says what it is and when it expires, so `python -m previews gc` can find and delete it
# even when its stack (where the expiry is configured) is gone. An annotation: label values cannot hold ':'.
PREVIEW_LABEL = "mlops.platform/preview"
EXPIRES_AT_ANNOTATION = "mlops.platform/expires-at"


@dataclass(frozen=True)
class NamespaceArgs:
    """The namespace to create."""

    name: str
    """Namespace name (a DNS label)."""
    stack: str
    """Stack name, for the stack label."""
    retain_on_delete: bool = False
    """Keep the namespace on `pulumi destroy` (protectVolumes): deleting it would delete the kept volumes."""
    preview: bool = False
    """A preview stack's namespace (labelled PREVIEW_LABEL=true)."""
    expires_at: str | None = None
    """A preview's expiry (ISO-8601 UTC), as the EXPIRES_AT_ANNOTATION."""


def _preview_label(args: NamespaceArgs) -> dict[str, str]:
    return {PREVIEW_LABEL: "true"} if args.preview else {}


def _peer(app: str) -> k8s.networking.v1.NetworkPolicyPeerArgs:
    return k8s.networking.v1.NetworkPolicyPeerArgs(
        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector(app))
    )


def _port(port: int) -> k8s.networking.v1.NetworkPolicyPortArgs:
    return k8s.networking.v1.NetworkPolicyPortArgs(port=port, protocol="TCP")


# (target app, port, allowed client apps or None for "anyone", e.g. NodePort traffic from the host)
INGRESS_RULES: tuple[tuple[str, int, tuple[str, ...] | None], ...] = (
    (POSTGRES_APP, POSTGRES_PORT, (MLFLOW_APP, MLFLOW_MAINTENANCE_APP)),
    (MLFLOW_APP, MLFLOW_PORT, None),
    (SERVING_APP, SERVING_PORT, None),
    (PROMETHEUS_APP, PROMETHEUS_PORT, None),
    (GRAFANA_APP, GRAFANA_PORT, None),
    (ALERTMANAGER_APP, ALERTMANAGER_PORT, (PROMETHEUS_APP,)),
    (RETRAIN_TRIGGER_APP, RETRAIN_TRIGGER_PORT, (ALERTMANAGER_APP, PROMETHEUS_APP)),
    (KUBE_STATE_APP, KUBE_STATE_PORT, (PROMETHEUS_APP,)),
)
# (client app, [(server app, port)]) inside the namespace; DNS egress is allowed for every pod.
EGRESS_RULES: tuple[tuple[str, tuple[tuple[str, int], ...]], ...] = (
    (MLFLOW_APP, ((POSTGRES_APP, POSTGRES_PORT),)),
    (SERVING_APP, ((MLFLOW_APP, MLFLOW_PORT),)),
    (TRAINING_APP, ((MLFLOW_APP, MLFLOW_PORT),)),
    (MLFLOW_MAINTENANCE_APP, ((POSTGRES_APP, POSTGRES_PORT), (MLFLOW_APP, MLFLOW_PORT))),
    (GRAFANA_APP, ((PROMETHEUS_APP, PROMETHEUS_PORT),)),
    (ALERTMANAGER_APP, ((RETRAIN_TRIGGER_APP, RETRAIN_TRIGGER_PORT),)),
)


class Namespace(pulumi.ComponentResource):
    """The platform's namespace and its network policies."""

    name: pulumi.Output[str]
    """The namespace name (resolves after it exists, so dependents wait for it)."""

    def __init__(self, name: str, args: NamespaceArgs, opts: ResourceOptions | None = None) -> None:
        super().__init__("mlops:index:Namespace", name, None, opts)
        pss = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "audit", "warn")}
        ns = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=args.name,
                labels={**labels(args.stack, "namespace", "namespace"), **pss, **_preview_label(args)},
                annotations={EXPIRES_AT_ANNOTATION: args.expires_at} if args.expires_at else None,
            ),
            opts=ResourceOptions(parent=self, retain_on_delete=args.retain_on_delete),
        )
        # Carries the dependency on the Namespace, so everything placed in it waits for it.
        self.name = pulumi.Output.all(ns.id, args.name).apply(lambda parts: str(parts[1]))
        meta_labels = labels(args.stack, "network-policy", "network")

        def policy(policy_name: str, spec: k8s.networking.v1.NetworkPolicySpecArgs) -> None:
            k8s.networking.v1.NetworkPolicy(
                f"{name}-{policy_name}",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=policy_name, namespace=self.name, labels=meta_labels
                ),
                spec=spec,
                opts=ResourceOptions(parent=self),
            )

        policy(
            "default-deny",
            k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(), policy_types=["Ingress", "Egress"]
            ),
        )
        policy(
            "allow-dns",
            k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(),
                policy_types=["Egress"],
                egress=[
                    k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                        to=[
                            k8s.networking.v1.NetworkPolicyPeerArgs(
                                namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                                    match_labels={"kubernetes.io/metadata.name": "kube-system"}
                                )
                            )
                        ],
                        ports=[
                            k8s.networking.v1.NetworkPolicyPortArgs(port=53, protocol="UDP"),
                            k8s.networking.v1.NetworkPolicyPortArgs(port=53, protocol="TCP"),
                        ],
                    )
                ],
            ),
        )
        for app, port, clients in INGRESS_RULES:
            source = None if clients is None else [_peer(c) for c in clients]
            policy(
                f"allow-ingress-{app}",
                k8s.networking.v1.NetworkPolicySpecArgs(
                    pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector(app)),
                    policy_types=["Ingress"],
                    ingress=[
                        k8s.networking.v1.NetworkPolicyIngressRuleArgs(from_=source, ports=[_port(port)])
                    ],
                ),
            )
        for app, servers in EGRESS_RULES:
            policy(
                f"allow-egress-{app}",
                k8s.networking.v1.NetworkPolicySpecArgs(
                    pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector(app)),
                    policy_types=["Egress"],
                    egress=[
                        k8s.networking.v1.NetworkPolicyEgressRuleArgs(to=[_peer(server)], ports=[_port(port)])
                        for server, port in servers
                    ],
                ),
            )
        # Prometheus scrapes every annotated pod in the namespace and watches pods via the API server.
        policy(
            "allow-egress-prometheus",
            k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector(PROMETHEUS_APP)),
                policy_types=["Egress"],
                egress=[
                    k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                        to=[
                            k8s.networking.v1.NetworkPolicyPeerArgs(
                                pod_selector=k8s.meta.v1.LabelSelectorArgs()
                            )
                        ]
                    ),
                    k8s.networking.v1.NetworkPolicyEgressRuleArgs(ports=[_port(443), _port(6443)]),
                ],
            ),
        )
        # The retrain trigger creates Jobs and kube-state-metrics watches objects through the API server.
        for app in (RETRAIN_TRIGGER_APP, KUBE_STATE_APP):
            policy(
                f"allow-egress-{app}",
                k8s.networking.v1.NetworkPolicySpecArgs(
                    pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector(app)),
                    policy_types=["Egress"],
                    egress=[k8s.networking.v1.NetworkPolicyEgressRuleArgs(ports=[_port(443), _port(6443)])],
                ),
            )
        self.register_outputs({"name": self.name})
