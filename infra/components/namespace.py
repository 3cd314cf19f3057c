"""Namespace with Pod Security Standards `restricted` enforced (pinned to the cluster's version) and the
platform's NetworkPolicies (network_policies.py: default-deny plus the allowed traffic matrix).

A preview deployed by a namespace-scoped identity (deployerServiceAccount) also gets the RoleBinding that
gives that identity its rights in the namespace (`python -m previews bootstrap` made the role it binds).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
from pulumi import ResourceOptions

# Re-exported: components place their pods by these names.
from infra.components.network_policies import ALERTMANAGER_APP as ALERTMANAGER_APP
from infra.components.network_policies import GRAFANA_APP as GRAFANA_APP
from infra.components.network_policies import GRAFANA_PORT as GRAFANA_PORT
from infra.components.network_policies import IDENTITIES_APP as IDENTITIES_APP
from infra.components.network_policies import KUBE_STATE_APP as KUBE_STATE_APP
from infra.components.network_policies import MLFLOW_APP as MLFLOW_APP
from infra.components.network_policies import MLFLOW_MAINTENANCE_APP as MLFLOW_MAINTENANCE_APP
from infra.components.network_policies import POSTGRES_APP as POSTGRES_APP
from infra.components.network_policies import POSTGRES_PORT as POSTGRES_PORT
from infra.components.network_policies import PROMETHEUS_APP as PROMETHEUS_APP
from infra.components.network_policies import PROMETHEUS_PORT as PROMETHEUS_PORT
from infra.components.network_policies import RETRAIN_TRIGGER_APP as RETRAIN_TRIGGER_APP
from infra.components.network_policies import SERVING_APP as SERVING_APP
from infra.components.network_policies import TRAINING_APP as TRAINING_APP
from infra.components.network_policies import NetworkArgs, policy_specs
from infra.components.pod_security import labels
from infra.config import ServiceAccountRef
from monitoring.prometheus_config import KUBE_STATE_METRICS_PORT

KUBE_STATE_PORT = KUBE_STATE_METRICS_PORT
# A preview's namespace says what it is and when it expires, so `python -m previews gc` can find and delete it
# even when its stack (where the expiry is configured) is gone. An annotation: label values cannot hold ':'.
PREVIEW_LABEL = "mlops.platform/preview"
EXPIRES_AT_ANNOTATION = "mlops.platform/expires-at"
# What a namespace-scoped preview deployer may do in its own namespace (previews/access.py defines it).
DEPLOYER_CLUSTER_ROLE = "mlops-preview-deployer"
DEPLOYER_BINDING = "preview-deployer"


@dataclass(frozen=True)
class NamespaceArgs:
    """The namespace to create."""

    name: str
    """Namespace name (a DNS label)."""
    stack: str
    """Stack name, for the stack label."""
    kubernetes_version: str
    """major.minor the Pod Security Standards are pinned to (so a cluster upgrade cannot change them)."""
    network: NetworkArgs
    """What the NetworkPolicies may assume about the cluster."""
    retain_on_delete: bool = False
    """Keep the namespace on `pulumi destroy` (protectVolumes): deleting it would delete the kept volumes."""
    preview: bool = False
    """A preview stack's namespace (labelled PREVIEW_LABEL=true)."""
    expires_at: str | None = None
    """A preview's expiry (ISO-8601 UTC), as the EXPIRES_AT_ANNOTATION."""
    deployer: ServiceAccountRef | None = None
    """A namespace-scoped deployer, bound DEPLOYER_CLUSTER_ROLE here before anything else is created."""


def _preview_label(args: NamespaceArgs) -> dict[str, str]:
    return {PREVIEW_LABEL: "true"} if args.preview else {}


class Namespace(pulumi.ComponentResource):
    """The platform's namespace and its network policies."""

    name: pulumi.Output[str]
    """The namespace name (resolves after it exists, so dependents wait for it)."""

    def __init__(self, name: str, args: NamespaceArgs, opts: ResourceOptions | None = None) -> None:
        super().__init__("mlops:index:Namespace", name, None, opts)
        pss = {}
        for mode in ("enforce", "audit", "warn"):
            pss[f"pod-security.kubernetes.io/{mode}"] = "restricted"
            pss[f"pod-security.kubernetes.io/{mode}-version"] = f"v{args.kubernetes_version}"
        ns = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=args.name,
                labels={**labels(args.stack, "namespace", "namespace"), **pss, **_preview_label(args)},
                annotations={EXPIRES_AT_ANNOTATION: args.expires_at} if args.expires_at else None,
            ),
            opts=ResourceOptions(parent=self, retain_on_delete=args.retain_on_delete),
        )
        ready: list[pulumi.Output[str]] = [ns.id]
        if args.deployer is not None:
            ready.append(self._deployer_binding(name, args, ns).id)
        # Carries the dependency on the Namespace (and the deployer's binding), so everything placed in it
        # waits for them, and `pulumi destroy` deletes them last.
        self.name = pulumi.Output.all(*ready).apply(lambda _: args.name)
        # Cluster-scoped objects made for this namespace name it as their owner, so deleting the namespace
        # (`previews gc` of an orphan) deletes them too. None before the API server assigned one (mocks).
        self.uid: pulumi.Output[str | None] = ns.metadata.apply(lambda m: m.uid if m is not None else None)
        meta_labels = labels(args.stack, "network-policy", "network")

        for policy_name, spec in policy_specs(args.network).items():
            k8s.networking.v1.NetworkPolicy(
                f"{name}-{policy_name}",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=policy_name, namespace=self.name, labels=meta_labels
                ),
                spec=spec,
                opts=ResourceOptions(parent=self),
            )
        self.register_outputs({"name": self.name})

    def _deployer_binding(
        self, name: str, args: NamespaceArgs, ns: k8s.core.v1.Namespace
    ) -> k8s.rbac.v1.RoleBinding:
        """The deployer's rights in this namespace: it has none here until this exists.

        The API server's RBAC authorizer learns of a new binding from its watch cache, within milliseconds;
        the engine's round trips before the next create take longer (a 403 there would need `create` rerun).
        """
        assert args.deployer is not None
        return k8s.rbac.v1.RoleBinding(
            f"{name}-deployer",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=DEPLOYER_BINDING,
                namespace=ns.metadata.name,
                labels=labels(args.stack, "deployer", "namespace"),
            ),
            role_ref=k8s.rbac.v1.RoleRefArgs(
                api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=DEPLOYER_CLUSTER_ROLE
            ),
            subjects=[
                k8s.rbac.v1.SubjectArgs(
                    kind="ServiceAccount", name=args.deployer.name, namespace=args.deployer.namespace
                )
            ],
            opts=ResourceOptions(parent=self),
        )
