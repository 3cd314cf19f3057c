"""`inferenceLogEnabled: true` on a real API server: the `inference-log` claim exists, is bound through the
serving pods that mount it, and the serving pods have it mounted writable at the documented path."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from mlops_contract.names import INFERENCE_LOG_CLAIM, INFERENCE_LOG_MOUNT_PATH, Env
from stacks.leftovers import find_leftovers, wait_for_cleanup
from tests.engine.conftest import EngineStack

pytestmark = pytest.mark.engine


def test_the_claim_exists_and_serving_pods_mount_it(stack_factory: Any) -> None:
    stack: EngineStack = stack_factory("ilog", inferenceLogEnabled="true", inferenceLogSampleRate="0.5")
    stack.up()
    core = client.CoreV1Api(stack.api())
    claim = core.read_namespaced_persistent_volume_claim(INFERENCE_LOG_CLAIM, stack.namespace)
    assert claim.spec.access_modes == ["ReadWriteOnce"]
    # WaitForFirstConsumer: bound because a serving pod that uses it was scheduled.
    assert claim.status.phase == "Bound"

    pods = core.list_namespaced_pod(stack.namespace, label_selector="app.kubernetes.io/name=serving").items
    assert pods
    for pod in pods:
        claims = {v.name: v.persistent_volume_claim for v in pod.spec.volumes if v.persistent_volume_claim}
        assert [c.claim_name for c in claims.values()] == [INFERENCE_LOG_CLAIM]
        container = pod.spec.containers[0]
        mount = next(m for m in container.volume_mounts if m.name in claims)
        assert mount.mount_path == INFERENCE_LOG_MOUNT_PATH and not mount.read_only
        env = {e.name: e.value for e in container.env}
        assert env[Env.INFERENCE_LOG_DIR] == INFERENCE_LOG_MOUNT_PATH
        assert env[Env.INFERENCE_LOG_SAMPLE_RATE] == "0.5"

    stack.destroy()
    left = wait_for_cleanup(lambda: find_leftovers(core, stack.name, stack.namespace), timeout=60, interval=1)
    assert left == []
