"""Stacks built under Pulumi's mocks (the engine cannot run here), one per cluster mode, built once."""

from __future__ import annotations

from typing import Any

import pytest

from infra.config import StackConfig
from infra.render import MockedStack, platform_program, run_program, stack_config

# The stack shapes the program supports; `preview` is what the preview tool (issue 6) passes.
STACK_OVERRIDES: dict[str, tuple[str, dict[str, str]]] = {
    "kind": ("dev", {}),
    "minikube": ("minikube", {"clusterMode": "minikube", "clusterName": "mlops-mk"}),
    "existing": (
        "prod",
        {
            "clusterMode": "existing",
            "kubeContext": "prod-cluster",
            "imageRegistry": "registry.example.com/mlops/",
            "namespace": "mlops-prod",
            "servingReplicas": "3",
            "protectVolumes": "true",
            "inferenceLogEnabled": "true",
            "inferenceLogAccessMode": "ReadWriteMany",
            "inferenceLogStorageClass": "nfs-rwx",
            "inferenceLogSampleRate": "0.1",
        },
    ),
    "preview": (
        "preview-feature-x",
        {
            "clusterMode": "existing",
            "kubeContext": "kind-mlops",
            "namespace": "mlops-preview-feature-x",
            "preview": "true",
            "protectVolumes": "false",
            "exposeOnHost": "false",
            "servingReplicas": "1",
            "servingMaxReplicas": "1",
            "expiresAt": "2030-01-31T18:00:00Z",
        },
    ),
}
MODES = tuple(STACK_OVERRIDES)


def config_for(mode: str) -> StackConfig:
    """The validated config of one stack shape."""
    stack, overrides = STACK_OVERRIDES[mode]
    return stack_config(stack, overrides)


_BUILT: dict[str, MockedStack] = {}


def built(mode: str) -> MockedStack:
    """The whole platform built under mocks for a stack shape (cached: building takes a few seconds)."""
    if mode not in _BUILT:
        _BUILT[mode] = run_program(config_for(mode), platform_program)
    return _BUILT[mode]


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    """Each supported stack shape."""
    return str(request.param)


@pytest.fixture
def stack(mode: str) -> MockedStack:
    """The platform built for `mode`."""
    return built(mode)


def find(manifests: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    """The one manifest of `kind` named `name`."""
    hits = [m for m in manifests if m["kind"] == kind and m["metadata"].get("name") == name]
    assert len(hits) == 1, f"{kind}/{name}: {len(hits)} found"
    return hits[0]


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    """A container's env as name -> value or valueFrom."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "Job", "CronJob"})


def pod_spec(manifest: dict[str, Any]) -> dict[str, Any]:
    """The pod spec of a Deployment, StatefulSet, Job or CronJob."""
    spec = manifest["spec"]
    template = spec["jobTemplate"]["spec"]["template"] if manifest["kind"] == "CronJob" else spec["template"]
    return dict(template["spec"])


def pod_specs(manifests: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(kind/name, pod spec) of every workload."""
    return [
        (f"{m['kind']}/{m['metadata']['name']}", pod_spec(m))
        for m in manifests
        if m["kind"] in WORKLOAD_KINDS
    ]
