"""`protectVolumes: true` as README and docs/infra.md describe it, on a real API server.

`pulumi destroy` succeeds and keeps the namespace with the PostgreSQL, artifact, backup and training-data
claims (everything else goes); the next `pulumi up` of the stack adopts them; with protection off, destroy
leaves nothing.
"""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from stacks.leftovers import find_leftovers, wait_for_cleanup
from tests.engine.conftest import EngineStack

pytestmark = pytest.mark.engine

CLAIMS = {"mlflow-artifacts", "data-mlflow-postgres-0", "mlflow-backups", "training-data"}
DATA_MOUNTS = {"training-data": "/var/lib/mlops/training-data"}


def _training_mounts(batch: Any, namespace: str) -> dict[str, dict[str, tuple[str, bool]]]:
    """Workload -> volume -> (claim, read-only) of the data volumes the training pods mount, as stored."""
    templates = {
        "cronjob": batch.read_namespaced_cron_job(
            "training-retrain", namespace
        ).spec.job_template.spec.template,
        "bootstrap": batch.read_namespaced_job("training-bootstrap", namespace).spec.template,
    }
    found: dict[str, dict[str, tuple[str, bool]]] = {}
    for workload, template in templates.items():
        (container,) = template.spec.containers
        claims = {
            v.name: v.persistent_volume_claim.claim_name
            for v in template.spec.volumes
            if v.persistent_volume_claim is not None
        }
        found[workload] = {
            m.name: (claims[m.name], bool(m.read_only)) for m in container.volume_mounts if m.name in claims
        }
        assert {m.name: m.mount_path for m in container.volume_mounts if m.name in claims} == DATA_MOUNTS
    return found


def _claims(core: Any, namespace: str) -> dict[str, str]:
    return {
        c.metadata.name: c.metadata.uid for c in core.list_namespaced_persistent_volume_claim(namespace).items
    }


def test_destroy_keeps_the_volumes_and_up_adopts_them(stack_factory: Any) -> None:
    stack: EngineStack = stack_factory("keep", protectVolumes="true")
    stack.up()
    core = client.CoreV1Api(stack.api())
    claims = _claims(core, stack.namespace)
    assert set(claims) == CLAIMS
    keep = core.read_namespaced_persistent_volume_claim("training-data", stack.namespace).metadata.annotations
    assert keep["mlops.platform/keep-snapshots"] == "10"
    expected = {"training-data": ("training-data", True)}
    mounts = _training_mounts(client.BatchV1Api(stack.api()), stack.namespace)
    assert mounts == {"cronjob": expected, "bootstrap": expected}

    stack.destroy()
    assert core.read_namespace(stack.namespace).status.phase == "Active"
    assert _claims(core, stack.namespace) == claims
    apps = client.AppsV1Api(stack.api())
    assert apps.list_namespaced_deployment(stack.namespace).items == []
    assert apps.list_namespaced_stateful_set(stack.namespace).items == []
    assert [s.metadata.name for s in core.list_namespaced_secret(stack.namespace).items] == []

    stack.up()  # same stack, same credentials: the retained namespace and claims are adopted
    assert _claims(core, stack.namespace) == claims
    stack.preview(expect_no_changes=True)

    stack.set(protectVolumes="false")
    stack.up()
    stack.destroy()
    left = wait_for_cleanup(lambda: find_leftovers(core, stack.name, stack.namespace), timeout=60, interval=1)
    assert left == []
