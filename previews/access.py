"""Namespace-scoped credentials for preview deployments: the one-time admin bootstrap and what it grants.

`python -m previews bootstrap --context <admin context>` (run once by a cluster admin) creates:

- ServiceAccount `mlops-previews/preview-runner`: the identity `previews create/destroy/gc` run as;
- ClusterRole `mlops-preview-deployer`: everything a preview's program creates and awaits *inside* a
  namespace. It is never bound cluster-wide: each preview binds it to the runner in its own namespace
  (infra/components/namespace.py, stack config deployerServiceAccount);
- ClusterRole + ClusterRoleBinding `mlops-preview-runner`: the cluster-scoped rest: namespaces, the one
  RoleBinding a new preview namespace needs (`bind` on the deployer role only), reading PersistentVolumes
  for the leftover check. No ValidatingAdmissionPolicy rights: admission does not apply to those objects, so
  such a right could delete the guard below;
- ValidatingAdmissionPolicy + binding `mlops-preview-guard`: what RBAC cannot say by name. The runner may
  manage only namespaces named `mlops-preview-*` (labelled as previews, Pod Security `restricted`), and
  RoleBindings only in those; a preview's retrain trigger may create no Job (its clone policy is
  cluster-scoped, so a namespace-scoped deployer cannot create it: docs/security.md).

It then writes a kubeconfig for the runner (a TokenRequest token) with the admin context's server and CA.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from infra.components.namespace import DEPLOYER_CLUSTER_ROLE, PREVIEW_LABEL
from previews.naming import NAMESPACE_PREFIX

RUNNER_NAMESPACE = "mlops-previews"
RUNNER_NAME = "preview-runner"
RUNNER_USER = f"system:serviceaccount:{RUNNER_NAMESPACE}:{RUNNER_NAME}"
RUNNER_CLUSTER_ROLE = "mlops-preview-runner"
RUNNER_CONTEXT = "mlops-preview-runner"
GUARD = "mlops-preview-guard"
MANAGER = "mlops-previews-bootstrap"
"""Field manager of the bootstrap's server-side applies."""
# The preview program's retrain trigger (its ServiceAccount is named after the app).
TRIGGER_SUFFIX = ":retrain-trigger"

_WRITE = ["get", "list", "watch", "create", "update", "patch", "delete"]
_READ = ["get", "list", "watch"]
_RBAC = "rbac.authorization.k8s.io"


def _rule(groups: list[str], resources: list[str], verbs: list[str]) -> dict[str, Any]:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs}


DEPLOYER_RULES = [
    # What the program creates in a preview namespace (tests/previews/test_access.py holds it to the
    # rendered preview stack, Roles included: RBAC lets one grant only rights one holds).
    _rule(
        [""],
        [
            "configmaps",
            "secrets",
            "services",
            "serviceaccounts",
            "persistentvolumeclaims",
            "resourcequotas",
            "limitranges",
        ],
        _WRITE,
    ),
    _rule(["apps"], ["deployments", "statefulsets"], _WRITE),
    _rule(["batch"], ["jobs", "cronjobs"], _WRITE),
    _rule(["policy"], ["poddisruptionbudgets"], _WRITE),
    _rule(["autoscaling"], ["horizontalpodautoscalers"], _WRITE),
    _rule(["networking.k8s.io"], ["networkpolicies"], _WRITE),
    _rule([_RBAC], ["roles", "rolebindings"], _WRITE),
    # What the provider reads while it awaits readiness (pods, their events and logs, endpoints).
    _rule([""], ["pods", "pods/log", "events", "endpoints"], _READ),
    _rule(["apps"], ["replicasets", "controllerrevisions"], _READ),
    _rule(["events.k8s.io"], ["events"], _READ),
    _rule(["discovery.k8s.io"], ["endpointslices"], _READ),
]

RUNNER_RULES = [
    # Create and delete preview namespaces (which ones: the guard); read any, to await their deletion.
    _rule([""], ["namespaces"], _WRITE),
    # The leftover check after a destroy (PVs are cluster-scoped).
    _rule([""], ["persistentvolumes"], _READ),
    # The deployer's RoleBinding in a new preview namespace, where the runner holds nothing yet; `bind`
    # only on the deployer role, and only in preview namespaces (the guard). Read everywhere, so deleting
    # that binding (its last right in the namespace) can still be awaited.
    _rule([_RBAC], ["rolebindings"], _WRITE),
    {
        "apiGroups": [_RBAC],
        "resources": ["clusterroles"],
        "verbs": ["bind"],
        "resourceNames": [DEPLOYER_CLUSTER_ROLE],
    },
]


def _lit(value: str) -> str:
    """A CEL string literal (JSON's escaping is valid CEL)."""
    return json.dumps(value)


def guard_validations() -> list[dict[str, str]]:
    """The guard's rules; each names the resource it is about, so one policy covers all three."""
    prefix = _lit(NAMESPACE_PREFIX)
    kind = "request.resource.resource"
    target = "(request.operation == 'DELETE' ? oldObject : object)"
    labels = "object.metadata.labels"
    pss = _lit("pod-security.kubernetes.io/enforce")
    preview = _lit(PREVIEW_LABEL)
    rules = [
        {
            "expression": f"{kind} != 'namespaces' || {target}.metadata.name.startsWith({prefix})",
            "message": f"a preview identity may manage only namespaces named {NAMESPACE_PREFIX}*",
        },
        {
            "expression": (
                f"{kind} != 'namespaces' || request.operation == 'DELETE' || "
                f"(has(object.metadata.labels) && {pss} in {labels} && {labels}[{pss}] == 'restricted' && "
                f"{preview} in {labels} && {labels}[{preview}] == 'true')"
            ),
            "message": "a preview namespace must be labelled a preview, Pod Security 'restricted' enforced",
        },
        {
            "expression": f"{kind} != 'rolebindings' || request.namespace.startsWith({prefix})",
            "message": f"a preview identity may bind roles only in namespaces named {NAMESPACE_PREFIX}*",
        },
        {
            "expression": f"{kind} != 'jobs' || request.userInfo.username == {_lit(RUNNER_USER)}",
            "message": (
                "a preview deployed with namespace-scoped credentials has no retrain clone policy, so its "
                "retrain trigger may not create Jobs (docs/security.md)"
            ),
        },
    ]
    # 403 like RBAC's refusals (the default, Invalid, is a 422 that reads like a malformed object).
    return [{**rule, "reason": "Forbidden"} for rule in rules]


def bootstrap_objects() -> list[dict[str, Any]]:
    """Every object the admin bootstrap applies, in order."""
    meta_labels = {"app.kubernetes.io/part-of": "mlops-platform", "app.kubernetes.io/component": "previews"}

    def meta(name: str, namespace: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"name": name, "labels": meta_labels}
        if namespace:
            out["namespace"] = namespace
        return out

    from_preview = (
        f"request.userInfo.username == {_lit(RUNNER_USER)} || "
        f"(request.userInfo.username.startsWith({_lit('system:serviceaccount:' + NAMESPACE_PREFIX)}) && "
        f"request.userInfo.username.endsWith({_lit(TRIGGER_SUFFIX)}))"
    )
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                **meta(RUNNER_NAMESPACE),
                "labels": {**meta_labels, "pod-security.kubernetes.io/enforce": "restricted"},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": meta(RUNNER_NAME, RUNNER_NAMESPACE),
            "automountServiceAccountToken": False,
        },
        {
            "apiVersion": f"{_RBAC}/v1",
            "kind": "ClusterRole",
            "metadata": meta(DEPLOYER_CLUSTER_ROLE),
            "rules": DEPLOYER_RULES,
        },
        {
            "apiVersion": f"{_RBAC}/v1",
            "kind": "ClusterRole",
            "metadata": meta(RUNNER_CLUSTER_ROLE),
            "rules": RUNNER_RULES,
        },
        {
            "apiVersion": f"{_RBAC}/v1",
            "kind": "ClusterRoleBinding",
            "metadata": meta(RUNNER_CLUSTER_ROLE),
            "roleRef": {"apiGroup": _RBAC, "kind": "ClusterRole", "name": RUNNER_CLUSTER_ROLE},
            "subjects": [{"kind": "ServiceAccount", "name": RUNNER_NAME, "namespace": RUNNER_NAMESPACE}],
        },
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": meta(GUARD),
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {
                    "resourceRules": [
                        {
                            "apiGroups": [""],
                            "apiVersions": ["v1"],
                            "operations": ["CREATE", "UPDATE", "DELETE"],
                            "resources": ["namespaces"],
                        },
                        {
                            "apiGroups": [_RBAC],
                            "apiVersions": ["*"],
                            "operations": ["CREATE", "UPDATE", "DELETE"],
                            "resources": ["rolebindings"],
                        },
                        {
                            "apiGroups": ["batch"],
                            "apiVersions": ["*"],
                            "operations": ["CREATE", "UPDATE"],
                            "resources": ["jobs"],
                        },
                    ]
                },
                "matchConditions": [{"name": "from-a-preview-identity", "expression": from_preview}],
                "validations": guard_validations(),
            },
        },
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": meta(GUARD),
            "spec": {"policyName": GUARD, "validationActions": ["Deny"]},
        },
    ]


def apply_bootstrap(api_client: Any) -> list[str]:
    """Server-side apply every bootstrap object as the admin; returns `Kind/name` of each."""
    from kubernetes.dynamic import DynamicClient

    dynamic = DynamicClient(api_client)  # type: ignore[no-untyped-call]
    done = []
    for obj in bootstrap_objects():
        resource = dynamic.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        namespace = obj["metadata"].get("namespace")
        dynamic.server_side_apply(  # type: ignore[no-untyped-call]
            resource, body=obj, namespace=namespace, field_manager=MANAGER, force_conflicts=True
        )
        done.append(f"{obj['kind']}/{obj['metadata']['name']}")
    return done


@dataclass(frozen=True)
class RunnerKubeconfig:
    """Where the runner reaches the cluster, and as whom."""

    server: str
    """The API server URL (the admin context's)."""
    ca_data: str
    """The cluster CA, base64 PEM (kubeconfig's certificate-authority-data)."""
    token: str
    """The runner's ServiceAccount token."""

    def document(self) -> dict[str, Any]:
        """A kubeconfig holding only the runner's context."""
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": RUNNER_CONTEXT,
                    "cluster": {"server": self.server, "certificate-authority-data": self.ca_data},
                }
            ],
            "users": [{"name": RUNNER_CONTEXT, "user": {"token": self.token}}],
            "contexts": [
                {"name": RUNNER_CONTEXT, "context": {"cluster": RUNNER_CONTEXT, "user": RUNNER_CONTEXT}}
            ],
            "current-context": RUNNER_CONTEXT,
        }

    def write(self, path: Path) -> None:
        """Write it readable by its owner only (it holds a bearer token)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600, exist_ok=True)
        path.chmod(0o600)
        path.write_text(yaml.safe_dump(self.document(), sort_keys=False))


def runner_kubeconfig(api_client: Any, token_seconds: int) -> RunnerKubeconfig:
    """A TokenRequest token for the runner, with the admin client's server and CA."""
    from kubernetes import client

    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=token_seconds)
    )
    answer = client.CoreV1Api(api_client).create_namespaced_service_account_token(
        RUNNER_NAME, RUNNER_NAMESPACE, request
    )
    if answer.status is None or not answer.status.token:
        raise ValueError("the API server issued no token for the runner")
    config = api_client.configuration
    ca_path: Mapping[str, Any] | str | None = config.ssl_ca_cert
    if not isinstance(ca_path, str):
        raise ValueError("the admin context has no CA file: the runner's kubeconfig needs the cluster's CA")
    ca = base64.b64encode(Path(ca_path).read_bytes()).decode()
    return RunnerKubeconfig(server=str(config.host), ca_data=ca, token=str(answer.status.token))
