"""Bad stack config through the real CLI: a message naming the key, and nothing created."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from stacks.workspace import WorkspaceError
from tests.engine.conftest import EngineStack

pytestmark = pytest.mark.engine


def _nothing_created(stack: EngineStack) -> None:
    with pytest.raises(ApiException) as absent:
        client.CoreV1Api(stack.api()).read_namespace(stack.namespace)
    assert absent.value.status == 404


def _fails_naming(stack: EngineStack, key: str) -> str:
    with pytest.raises(WorkspaceError) as failed:
        stack.up()
    text = f"{failed.value} {failed.value.details}"
    # The CLI quotes the key ('servingReplicas'); the program's errors prefix the project (mlops-platform:).
    assert f"'{key}'" in text or f"mlops-platform:{key}" in text, text
    assert "Traceback" not in text
    return text


def test_wrong_type_for_a_typed_key_is_refused_by_the_cli(stack_factory: Any) -> None:
    stack: EngineStack = stack_factory("badtype", servingReplicas="many")
    _fails_naming(stack, "servingReplicas")
    _nothing_created(stack)


def test_bad_enum_value_is_refused_by_the_program(stack_factory: Any) -> None:
    stack: EngineStack = stack_factory("badenum", clusterMode="cloud")
    text = _fails_naming(stack, "clusterMode")
    assert "kind, minikube, existing" in text
    _nothing_created(stack)
