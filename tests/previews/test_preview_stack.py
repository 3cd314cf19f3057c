"""The platform built with exactly the config `create` sets, under Pulumi's mocks.

The Pulumi engine cannot run here: `infra.render.run_program` runs the real program under
`pulumi.runtime.set_mocks` (recording every resource). The config comes from running `create` against
`FakeWorkspace`, a test double of the workspace Protocol (conftest.py), so this checks the keys the tool
really writes, not a hand-copied list.
"""

from __future__ import annotations

from typing import Any

import pytest

from infra.render import MockedStack, platform_program, run_program, stack_config
from previews.preview_config import short
from tests.previews.conftest import FakeClock, FakeKubeApi, Harness
from tests.stacks.doubles import FakeWorkspace

BRANCHES = ("feature/login", "feature/" + "long-branch-name-" * 5)


def _created_config(branch: str) -> tuple[str, dict[str, str]]:
    """Run `create` against the double; return the stack name and the config it set (short keys)."""
    harness = Harness(workspace=FakeWorkspace(), kube=FakeKubeApi(), clock=FakeClock())
    assert harness.run("create", branch) == 0
    ((stack, state),) = harness.workspace.stacks.items()
    return stack, {short(k): v for k, v in state.config.items()}


@pytest.fixture(scope="module")
def previews() -> dict[str, tuple[str, MockedStack]]:
    """Branch -> (namespace, the platform built for its preview stack)."""
    built = {}
    for branch in BRANCHES:
        stack, overrides = _created_config(branch)
        cfg = stack_config(stack, overrides)
        built[branch] = (cfg.namespace, run_program(cfg, platform_program))
    return built


def _identities(stack: MockedStack) -> set[tuple[str, str | None, str]]:
    return {(m["kind"], m["metadata"].get("namespace"), m["metadata"]["name"]) for m in stack.manifests()}


def test_the_created_config_validates_as_a_preview() -> None:
    stack, overrides = _created_config("feature/login")
    cfg = stack_config(stack, overrides)
    assert cfg.preview and not cfg.protect_volumes and not cfg.node_ports
    assert cfg.namespace == "mlops-preview-feature-login"
    assert cfg.kube_context == "kind-mlops" and cfg.cluster_name == "mlops"
    assert cfg.serving_replicas == cfg.serving_max_replicas == 1
    assert cfg.expires_at is not None


CLUSTER_SCOPED_OWNED_BY_NAMESPACE = {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}


@pytest.mark.parametrize("branch", BRANCHES)
def test_every_object_lives_in_the_preview_namespace(
    previews: dict[str, tuple[str, MockedStack]], branch: str
) -> None:
    namespace, stack = previews[branch]
    manifests = stack.manifests()
    namespaces = [m for m in manifests if m["kind"] == "Namespace"]
    assert [m["metadata"]["name"] for m in namespaces] == [namespace]
    for m in manifests:
        if m["kind"] in CLUSTER_SCOPED_OWNED_BY_NAMESPACE:
            # Owned by the Namespace on a real cluster (tests/engine/test_retrain_admission.py), so deleting
            # the namespace deletes them; named after it, so previews cannot collide.
            assert m["metadata"]["name"].endswith(namespace), f"{m['kind']}/{m['metadata']['name']}"
        elif m["kind"] != "Namespace":
            # Nothing else cluster-scoped besides the Namespace: a cluster-scoped object has no namespace.
            assert m["metadata"].get("namespace") == namespace, f"{m['kind']}/{m['metadata']['name']}"
        assert m["metadata"]["labels"]["mlops.platform/stack"].startswith("preview-")


@pytest.mark.parametrize("branch", BRANCHES)
def test_nothing_is_protected_or_retained(previews: dict[str, tuple[str, MockedStack]], branch: str) -> None:
    _, stack = previews[branch]
    kept = [r.name for r in stack.resources if r.protect or r.retain_on_delete]
    assert kept == [], "a preview's `pulumi destroy` must delete everything"


@pytest.mark.parametrize("branch", BRANCHES)
def test_nothing_is_published_on_the_shared_cluster(
    previews: dict[str, tuple[str, MockedStack]], branch: str
) -> None:
    _, stack = previews[branch]
    services: list[dict[str, Any]] = [m for m in stack.manifests() if m["kind"] == "Service"]
    assert services
    for service in services:
        assert service["spec"].get("type", "ClusterIP") == "ClusterIP", service["metadata"]["name"]
    # The dev stack's kind cluster is borrowed, never created (or deleted) by a preview.
    assert not [
        r for r in stack.resources if r.type == "command:local:Command" and "kind create" in str(r.inputs)
    ]


def test_two_previews_share_no_namespace_and_no_object(previews: dict[str, tuple[str, MockedStack]]) -> None:
    (ns_a, stack_a), (ns_b, stack_b) = (previews[b] for b in BRANCHES)
    assert ns_a != ns_b
    assert _identities(stack_a).isdisjoint(_identities(stack_b))


def test_the_namespace_carries_the_preview_label_and_the_configured_expiry(
    previews: dict[str, tuple[str, MockedStack]],
) -> None:
    stack, overrides = _created_config(BRANCHES[0])
    namespace, built = previews[BRANCHES[0]]
    (ns,) = [m for m in built.manifests() if m["kind"] == "Namespace"]
    assert ns["metadata"]["name"] == namespace
    assert ns["metadata"]["labels"]["mlops.platform/preview"] == "true"
    assert ns["metadata"]["labels"]["mlops.platform/stack"] == stack
    assert ns["metadata"]["annotations"]["mlops.platform/expires-at"] == overrides["expiresAt"]
