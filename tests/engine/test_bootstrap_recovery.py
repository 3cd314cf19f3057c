"""A bootstrap Job that failed does not wedge the stack: every `pulumi up` makes a fresh attempt.

The Job's pods fail through an extra kwok stage keyed on a marker image (engine/cluster.py FAILING_IMAGE):
without a kubelet that is how a training run can fail here.
"""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from engine.cluster import FAILING_IMAGE
from stacks.workspace import WorkspaceError
from tests.engine.conftest import EngineStack, prebuilt_image

pytestmark = pytest.mark.engine


def _job(stack: EngineStack) -> Any:
    return client.BatchV1Api(stack.api()).read_namespaced_job("training-bootstrap", stack.namespace)


def test_failed_bootstrap_job_is_replaced_on_the_next_up_and_recovers_once_fixed(stack_factory: Any) -> None:
    stack: EngineStack = stack_factory("recover", trainingImage=FAILING_IMAGE)
    with pytest.raises(WorkspaceError):
        stack.up()
    failed = _job(stack)
    assert any(c.type == "Failed" and c.status == "True" for c in failed.status.conditions or [])

    # Same config again: the unready Job is replaced (a new attempt), not re-awaited forever.
    with pytest.raises(WorkspaceError):
        stack.up()
    assert _job(stack).metadata.uid != failed.metadata.uid

    stack.set(trainingImage=prebuilt_image("mlops-training"))
    stack.up()
    job = _job(stack)
    assert job.status.succeeded == 1
    # Serving waits for the bootstrap Job: it exists only now.
    assert client.AppsV1Api(stack.api()).read_namespaced_deployment("serving", stack.namespace)
    stack.preview(expect_no_changes=True)
