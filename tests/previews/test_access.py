"""The namespace-scoped preview identity: what the bootstrap grants, held to what the preview program creates.

The program runs under Pulumi's mocks (`infra.render.run_program`), with the config `create` sets plus
`deployerServiceAccount`; no cluster is needed to compare its objects with the roles. The roles and the guard
on a real API server: tests/engine/test_preview_access.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from infra.config import ConfigError
from infra.render import MockedStack, platform_program, run_program, stack_config
from previews.access import DEPLOYER_RULES, RUNNER_NAME, RUNNER_NAMESPACE, RUNNER_RULES, bootstrap_objects
from previews.preview_config import short
from tests.previews.conftest import FakeClock, FakeKubeApi, Harness
from tests.stacks.doubles import FakeWorkspace

DEPLOYER = f"{RUNNER_NAMESPACE}/{RUNNER_NAME}"
# Kind -> (API group, resource) for every kind a preview creates.
RESOURCES = {
    "ConfigMap": ("", "configmaps"),
    "Secret": ("", "secrets"),
    "Service": ("", "services"),
    "ServiceAccount": ("", "serviceaccounts"),
    "PersistentVolumeClaim": ("", "persistentvolumeclaims"),
    "ResourceQuota": ("", "resourcequotas"),
    "LimitRange": ("", "limitranges"),
    "Deployment": ("apps", "deployments"),
    "StatefulSet": ("apps", "statefulsets"),
    "Job": ("batch", "jobs"),
    "CronJob": ("batch", "cronjobs"),
    "PodDisruptionBudget": ("policy", "poddisruptionbudgets"),
    "HorizontalPodAutoscaler": ("autoscaling", "horizontalpodautoscalers"),
    "NetworkPolicy": ("networking.k8s.io", "networkpolicies"),
    "Role": ("rbac.authorization.k8s.io", "roles"),
    "RoleBinding": ("rbac.authorization.k8s.io", "rolebindings"),
}


def _allows(
    rules: list[dict[str, Any]], group: str, resource: str, verb: str, name: str | None = None
) -> bool:
    return any(
        group in rule["apiGroups"]
        and resource in rule["resources"]
        and verb in rule["verbs"]
        and (name is None or "resourceNames" not in rule or name in rule["resourceNames"])
        and (name is not None or "resourceNames" not in rule)
        for rule in rules
    )


@pytest.fixture(scope="module")
def restricted() -> MockedStack:
    """A preview as `create --set deployerServiceAccount=...` configures it."""
    harness = Harness(workspace=FakeWorkspace(), kube=FakeKubeApi(), clock=FakeClock())
    assert (
        harness.run("create", "feature/least-privilege", "--set", f"deployerServiceAccount={DEPLOYER}") == 0
    )
    ((stack, state),) = harness.workspace.stacks.items()
    cfg = stack_config(stack, {short(k): v for k, v in state.config.items()})
    return run_program(cfg, platform_program)


def test_the_deployer_role_may_create_update_and_delete_every_kind_the_preview_creates(
    restricted: MockedStack,
) -> None:
    kinds = {m["kind"] for m in restricted.manifests() if m["kind"] != "Namespace"}
    assert kinds <= set(RESOURCES), kinds - set(RESOURCES)
    for kind in kinds:
        group, resource = RESOURCES[kind]
        for verb in ("get", "create", "patch", "delete"):
            assert _allows(DEPLOYER_RULES, group, resource, verb), f"{verb} {kind}"


def test_the_deployer_holds_every_right_the_preview_s_roles_grant(restricted: MockedStack) -> None:
    """RBAC lets an identity grant (create a Role with) only rights it holds itself."""
    roles = [m for m in restricted.manifests() if m["kind"] == "Role"]
    assert roles
    for role in roles:
        for rule in role["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    for verb in rule["verbs"]:
                        assert _allows(DEPLOYER_RULES, group, resource, verb), (
                            role["metadata"]["name"],
                            rule,
                        )


def test_a_restricted_preview_binds_its_deployer_and_creates_nothing_cluster_scoped_but_its_namespace(
    restricted: MockedStack,
) -> None:
    manifests = restricted.manifests()
    namespace = "mlops-preview-feature-least-privilege"
    cluster_scoped = [m["kind"] for m in manifests if not m["metadata"].get("namespace")]
    assert cluster_scoped == ["Namespace"]
    (binding,) = [
        m for m in manifests if m["kind"] == "RoleBinding" and m["metadata"]["name"] == "preview-deployer"
    ]
    assert binding["metadata"]["namespace"] == namespace
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "mlops-preview-deployer",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": RUNNER_NAME, "namespace": RUNNER_NAMESPACE}
    ]


def test_the_runner_holds_no_cluster_wide_namespaced_rights_and_no_admission_policy_rights() -> None:
    # Cluster-scoped: namespaces, PVs, the deployer's RoleBinding and `bind` on the deployer role only.
    granted = {(g, r) for rule in RUNNER_RULES for g in rule["apiGroups"] for r in rule["resources"]}
    assert granted == {
        ("", "namespaces"),
        ("", "persistentvolumes"),
        ("rbac.authorization.k8s.io", "rolebindings"),
        ("rbac.authorization.k8s.io", "clusterroles"),
    }
    assert not _allows(RUNNER_RULES, "", "secrets", "get")
    assert not _allows(RUNNER_RULES, "rbac.authorization.k8s.io", "clusterrolebindings", "create")
    assert not _allows(RUNNER_RULES, "admissionregistration.k8s.io", "validatingadmissionpolicies", "delete")
    (bind,) = [rule for rule in RUNNER_RULES if "bind" in rule["verbs"]]
    assert bind["resourceNames"] == ["mlops-preview-deployer"]
    assert _allows(RUNNER_RULES, "", "persistentvolumes", "list") and not _allows(
        RUNNER_RULES, "", "persistentvolumes", "delete"
    )
    # The deployer role is bound only per namespace, never by a ClusterRoleBinding.
    bindings = [o for o in bootstrap_objects() if o["kind"] == "ClusterRoleBinding"]
    assert [b["roleRef"]["name"] for b in bindings] == ["mlops-preview-runner"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"deployerServiceAccount": DEPLOYER}, "for preview stacks only"),
        ({"deployerServiceAccount": "preview-runner", "preview": "true"}, "is not NAMESPACE/NAME"),
        ({"deployerServiceAccount": "Mlops/x", "preview": "true"}, "is not NAMESPACE/NAME"),
    ],
)
def test_a_bad_deployer_service_account_is_refused_naming_the_key(
    overrides: dict[str, str], message: str
) -> None:
    base = {"clusterMode": "existing", "kubeContext": "kind-mlops", "namespace": "mlops-preview-x"}
    base |= {"protectVolumes": "false", "imageRegistry": "registry.example.com/mlops"}
    with pytest.raises(ConfigError, match=f"mlops-platform:deployerServiceAccount: .*{message}"):
        stack_config("preview-x", {**base, **overrides})
