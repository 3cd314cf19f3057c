"""Test doubles for the preview CLI: a Pulumi workspace and a Kubernetes API, plus a controllable clock.

The Pulumi CLI (which the Automation API drives) and a Kubernetes cluster cannot run here, so the commands run
against `FakeWorkspace` (the shared double in tests/stacks/doubles.py) and `FakeKubeApi` (the CoreV1Api calls
stacks.leftovers makes, answering with the real kubernetes client model objects).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from kubernetes.client import (
    V1Namespace,
    V1NamespaceList,
    V1NamespaceStatus,
    V1ObjectMeta,
    V1ObjectReference,
    V1PersistentVolume,
    V1PersistentVolumeClaim,
    V1PersistentVolumeClaimList,
    V1PersistentVolumeClaimStatus,
    V1PersistentVolumeList,
    V1PersistentVolumeSpec,
    V1PersistentVolumeStatus,
    V1Status,
)
from kubernetes.client.exceptions import ApiException

from infra.components.namespace import EXPIRES_AT_ANNOTATION, PREVIEW_LABEL
from infra.components.pod_security import STACK_LABEL
from previews.cli import Deps, main
from stacks.leftovers import KubeApi
from tests.stacks.doubles import NOW, FakeWorkspace

UNREACHABLE = (
    "error: configured Kubernetes cluster is unreachable: unable to load schema information from the API "
    "server: dial tcp 127.0.0.1:6443: connect: connection refused. If the cluster has been deleted, retry "
    "with the PULUMI_K8S_DELETE_UNREACHABLE environment variable set to true"
)


class FakeClock:
    """Monotonic seconds that advance only when the code sleeps (or a test says so)."""

    def __init__(self) -> None:
        self.seconds = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.seconds

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.seconds += seconds


def _matches(meta: V1ObjectMeta | None, label_selector: str | None, field_selector: str | None) -> bool:
    assert meta is not None
    if label_selector:
        k, _, v = label_selector.partition("=")
        if (meta.labels or {}).get(k) != v:
            return False
    if field_selector:
        k, _, v = field_selector.partition("=")
        assert k == "metadata.name", f"fake supports metadata.name only, got {k}"
        if meta.name != v:
            return False
    return True


class FakeKubeApi:
    """The CoreV1Api calls the leftover check makes, over an in-memory cluster.

    `vanish_after`: objects disappear after that many full checks (asynchronous namespace deletion).
    `error`: every call raises it (an unreachable API server).
    """

    def __init__(self) -> None:
        self.namespaces: list[V1Namespace] = []
        self.claims: list[V1PersistentVolumeClaim] = []
        self.volumes: list[V1PersistentVolume] = []
        self.checks = 0
        self.deleted: list[str] = []
        self.vanish_after: int | None = None
        self.error: Exception | None = None

    def _tick(self) -> None:
        if self.error is not None:
            raise self.error

    def list_namespace(
        self, *, label_selector: str = "", field_selector: str = "", _request_timeout: float = 0
    ) -> V1NamespaceList:
        self._tick()
        if not field_selector:  # the first call of a check
            self.checks += 1
            if self.vanish_after is not None and self.checks > self.vanish_after:
                self.namespaces, self.claims, self.volumes = [], [], []
        return V1NamespaceList(
            items=[n for n in self.namespaces if _matches(n.metadata, label_selector, field_selector)]
        )

    def list_namespaced_persistent_volume_claim(
        self, namespace: str, *, _request_timeout: float = 0
    ) -> V1PersistentVolumeClaimList:
        self._tick()
        return V1PersistentVolumeClaimList(
            items=[c for c in self.claims if c.metadata is not None and c.metadata.namespace == namespace]
        )

    def list_persistent_volume(self, *, _request_timeout: float = 0) -> V1PersistentVolumeList:
        self._tick()
        return V1PersistentVolumeList(items=list(self.volumes))

    def delete_namespace(self, name: str, *, _request_timeout: float = 0) -> V1Status:
        """Deletes at once, with the claims in it (the API server's cascade, minus the wait)."""
        self._tick()
        self.deleted.append(name)
        if not any(n.metadata is not None and n.metadata.name == name for n in self.namespaces):
            raise ApiException(status=404, reason="Not Found")
        self.namespaces = [n for n in self.namespaces if n.metadata is not None and n.metadata.name != name]
        self.claims = [c for c in self.claims if c.metadata is not None and c.metadata.namespace != name]
        return V1Status(status="Success")

    # Builders for test scenarios.
    def add_namespace(
        self,
        name: str,
        stack: str | None,
        phase: str = "Active",
        preview: bool = False,
        expires_at: str | None = None,
    ) -> None:
        """A namespace; `preview`/`expires_at` label and annotate it as the program does for a preview."""
        labels = {STACK_LABEL: stack} if stack else {}
        if preview:
            labels[PREVIEW_LABEL] = "true"
        annotations = {EXPIRES_AT_ANNOTATION: expires_at} if expires_at else None
        self.namespaces.append(
            V1Namespace(
                metadata=V1ObjectMeta(name=name, labels=labels, annotations=annotations),
                status=V1NamespaceStatus(phase=phase),
            )
        )

    def add_claim(self, namespace: str, name: str) -> None:
        self.claims.append(
            V1PersistentVolumeClaim(
                metadata=V1ObjectMeta(name=name, namespace=namespace),
                status=V1PersistentVolumeClaimStatus(phase="Bound"),
            )
        )

    def add_volume(self, name: str, claim_namespace: str, claim: str, phase: str = "Released") -> None:
        self.volumes.append(
            V1PersistentVolume(
                metadata=V1ObjectMeta(name=name),
                spec=V1PersistentVolumeSpec(
                    claim_ref=V1ObjectReference(namespace=claim_namespace, name=claim)
                ),
                status=V1PersistentVolumeStatus(phase=phase),
            )
        )


@dataclass
class Harness:
    """The doubles wired into the CLI's Deps."""

    workspace: FakeWorkspace
    kube: FakeKubeApi
    clock: FakeClock
    contexts: list[str | None] = field(default_factory=list)
    now: datetime = NOW
    opened: int = 0
    environ: dict[str, str] = field(default_factory=dict)

    def deps(self) -> Deps:
        def open_workspace() -> FakeWorkspace:
            self.opened += 1
            return self.workspace

        def kube_api(context: str | None) -> KubeApi:
            self.contexts.append(context)
            return self.kube

        return Deps(
            open_workspace=open_workspace,
            kube_api=kube_api,
            now=lambda: self.now,
            clock=self.clock,
            sleep=self.clock.sleep,
            environ=self.environ,
        )

    def run(self, *argv: str) -> int:
        """`python -m previews ARGV` against the doubles."""
        return main(list(argv), deps=self.deps())


@pytest.fixture
def harness() -> Harness:
    """Fresh doubles for one test."""
    return Harness(workspace=FakeWorkspace(), kube=FakeKubeApi(), clock=FakeClock())


def hours(n: float) -> timedelta:
    """Shorthand for test timestamps."""
    return timedelta(hours=n)


def preview_stack_config(namespace: str, expires_at: str, context: str = "kind-mlops") -> dict[str, Any]:
    """The config a `create` would have stored, for stacks that already exist in a test."""
    return {
        "mlops-platform:clusterMode": "existing",
        "mlops-platform:kubeContext": context,
        "mlops-platform:clusterName": "mlops",
        "mlops-platform:namespace": namespace,
        "mlops-platform:preview": "true",
        "mlops-platform:protectVolumes": "false",
        "mlops-platform:exposeOnHost": "false",
        "mlops-platform:servingReplicas": "1",
        "mlops-platform:servingMaxReplicas": "1",
        "mlops-platform:expiresAt": expires_at,
    }
