"""The post-destroy leftover check against a fake Kubernetes API.

No cluster can run here: `FakeKubeApi` (conftest.py) stands in for kubernetes.client.CoreV1Api and answers
with the client's real model objects. The real client factory is exercised only up to loading kubeconfig.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.components.pod_security import STACK_LABEL
from stacks.leftovers import Leftover, LeftoverCheckError, core_api, find_leftovers, wait_for_cleanup
from tests.previews.conftest import FakeClock, FakeKubeApi

STACK = "preview-pr-7"
NAMESPACE = "mlops-preview-pr-7"


def test_a_clean_cluster_has_no_leftovers() -> None:
    kube = FakeKubeApi()
    kube.add_namespace("mlops", stack="dev")
    kube.add_claim("mlops", "data-mlflow-postgres-0")
    kube.add_volume("pvc-dev", "mlops", "data-mlflow-postgres-0", phase="Bound")
    kube.add_namespace("mlops-preview-pr-8", stack="preview-pr-8")
    assert find_leftovers(kube, STACK, NAMESPACE) == []


def test_namespace_claims_and_volumes_of_the_preview_are_found_once() -> None:
    kube = FakeKubeApi()
    kube.add_namespace(NAMESPACE, stack=STACK, phase="Terminating")  # matches by label and by name
    kube.add_namespace("renamed-by-hand", stack=STACK)
    kube.add_claim(NAMESPACE, "artifacts")
    kube.add_volume("pvc-a", NAMESPACE, "artifacts")
    assert find_leftovers(kube, STACK, NAMESPACE) == [
        Leftover("Namespace", NAMESPACE, detail="Terminating"),
        Leftover("Namespace", "renamed-by-hand", detail="Active"),
        Leftover("PersistentVolumeClaim", "artifacts", NAMESPACE, "Bound"),
        Leftover("PersistentVolume", "pvc-a", detail=f"claim {NAMESPACE}/artifacts, Released"),
    ]


def test_an_unlabelled_namespace_of_the_same_name_is_still_a_leftover() -> None:
    kube = FakeKubeApi()
    kube.add_namespace(NAMESPACE, stack=None)
    assert [str(x) for x in find_leftovers(kube, STACK, NAMESPACE)] == [f"Namespace {NAMESPACE} (Active)"]


def test_a_labelled_volume_without_a_claim_is_a_leftover() -> None:
    kube = FakeKubeApi()
    kube.add_volume("pvc-b", "elsewhere", "x")
    volume = kube.volumes[0]
    assert volume.metadata is not None and volume.spec is not None
    volume.metadata.labels = {STACK_LABEL: STACK}
    volume.spec.claim_ref = None
    assert [x.name for x in find_leftovers(kube, STACK, NAMESPACE)] == ["pvc-b"]


def test_api_errors_become_a_check_error() -> None:
    kube = FakeKubeApi()
    kube.error = TimeoutError("timed out")
    with pytest.raises(LeftoverCheckError, match="timed out"):
        find_leftovers(kube, STACK, NAMESPACE)


def test_waiting_stops_at_the_timeout_and_returns_what_is_left() -> None:
    clock = FakeClock()
    left = [Leftover("Namespace", NAMESPACE)]
    assert wait_for_cleanup(lambda: left, timeout=12, interval=5, sleep=clock.sleep, clock=clock) == left
    assert clock.sleeps == [5, 5, 2]


def test_no_wait_when_nothing_is_left() -> None:
    clock = FakeClock()
    assert wait_for_cleanup(list, timeout=60, sleep=clock.sleep, clock=clock) == []
    assert clock.sleeps == []


def test_the_real_client_without_a_kubeconfig_is_a_check_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(LeftoverCheckError, match="kind-mlops"):
        core_api("kind-mlops")
