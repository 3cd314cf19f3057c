"""The dev stack's shape (existing mode, prebuilt images) through the real CLI, provider and API server.

One stack for the module, so the tests run in file order: up, re-run, updates, replacements, destroy. Each
test states what the engine, the provider or the API server did; a failure prints the engine's output.
"""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client, dynamic
from kubernetes.client.rest import ApiException

from infra.components.schema_migration import MIGRATION_JOB_PREFIX, migration_job_name
from stacks.leftovers import find_leftovers, wait_for_cleanup
from tests.engine.conftest import EngineStack, prebuilt_image

pytestmark = pytest.mark.engine

# Objects the API server or controllers add to every namespace, or that controllers own.
_DEFAULTS = {("ServiceAccount", "default"), ("ConfigMap", "kube-root-ca.crt")}


@pytest.fixture(scope="module")
def dev(stack_factory: Any) -> EngineStack:
    """The dev stack shape, previewed then deployed once for the module."""
    stack: EngineStack = stack_factory("dev")
    planned = stack.preview()
    assert planned.get("create", 0) > 40, planned
    stack.up()
    return stack


def _live(stack: EngineStack, kinds: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """(kind, name) of every object of these kinds in the namespace that nobody owns (not controller-made)."""
    dyn = dynamic.DynamicClient(stack.api())
    found: set[tuple[str, str]] = set()
    for api_version, kind in kinds:
        resource = dyn.resources.get(api_version=api_version, kind=kind)
        namespace = stack.namespace if resource.namespaced else None
        for item in resource.get(namespace=namespace).items:
            owners = item.metadata.ownerReferences or []
            # Made by a controller (a Job's pods, a Deployment's ReplicaSet); ours may name the Namespace.
            if any(o.kind != "Namespace" for o in owners) or (kind, item.metadata.name) in _DEFAULTS:
                continue
            if not resource.namespaced and not item.metadata.name.endswith(stack.namespace):
                continue  # cluster-scoped kinds: ours carry the namespace's name (Namespace, admission)
            found.add((kind, item.metadata.name))
    return found


def test_up_creates_exactly_the_objects_render_shows(dev: EngineStack) -> None:
    rendered = dev.rendered()
    expected = {(m["kind"], m["metadata"]["name"]) for m in rendered}
    kinds = {(m["apiVersion"], m["kind"]) for m in rendered}
    assert _live(dev, kinds) == expected


def test_outputs_are_the_documented_ones(dev: EngineStack) -> None:
    out = dev.outputs()
    ns = dev.namespace
    assert out["namespace"] == ns
    assert out["clusterMode"] == "existing"
    # existing clusters publish nothing on the host: the URLs are the in-cluster Services.
    assert out["mlflowUrl"] == f"http://mlflow.{ns}.svc.cluster.local:5000"
    assert out["servingUrl"] == f"http://serving.{ns}.svc.cluster.local:8000"
    assert out["mlflowInClusterUrl"] == out["mlflowUrl"]
    assert out["images"] == {
        "mlops-serving": prebuilt_image("mlops-serving"),
        "mlops-training": prebuilt_image("mlops-training"),
        "mlops-mlflow": prebuilt_image("mlops-mlflow"),
        "mlops-retrain-trigger": prebuilt_image("mlops-retrain-trigger"),
    }
    assert out["resourceRequestsTotal"] == {"cpu": "930m", "memory": "2432Mi"}
    assert out["backupCronJob"] == "mlflow-backup"


def test_namespace_enforces_restricted_and_every_platform_pod_was_admitted(dev: EngineStack) -> None:
    core = client.CoreV1Api(dev.api())
    labels = core.read_namespace(dev.namespace).metadata.labels
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    pods = core.list_namespaced_pod(dev.namespace).items
    apps = {p.metadata.labels.get("app.kubernetes.io/name") for p in pods}
    workloads = [m for m in dev.rendered() if m["kind"] in {"Deployment", "StatefulSet", "Job"}]
    expected = {m["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] for m in workloads}
    assert len(expected) >= 8 and expected <= apps, expected - apps
    # A ReplicaSet whose pods admission refused records FailedCreate; none may have.
    events = core.list_namespaced_event(dev.namespace).items
    refused = [e.message for e in events if e.reason == "FailedCreate"]
    assert refused == []


def test_api_server_rejects_a_pod_that_is_not_restricted(dev: EngineStack) -> None:
    core = client.CoreV1Api(dev.api())
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "not-restricted"},
        "spec": {
            "containers": [
                {"name": "c", "image": prebuilt_image("x"), "securityContext": {"privileged": True}}
            ]
        },
    }
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_pod(dev.namespace, pod)
    assert refused.value.status == 403
    assert "violates PodSecurity" in refused.value.body


def test_second_up_changes_nothing(dev: EngineStack) -> None:
    dev.preview(expect_no_changes=True)
    assert set(dev.up()) == {"same"}


def test_reload_interval_change_updates_only_the_serving_deployment(dev: EngineStack) -> None:
    dev.set(reloadIntervalSeconds="45")
    planned = dev.preview()
    assert planned.get("update") == 1 and not planned.get("replace"), planned
    dev.up()
    apps = client.AppsV1Api(dev.api())
    env = apps.read_namespaced_deployment("serving", dev.namespace).spec.template.spec.containers[0].env
    assert {e.name: e.value for e in env}["MLOPS_RELOAD_INTERVAL_SECONDS"] == "45"


def test_new_training_image_replaces_the_bootstrap_job(dev: EngineStack) -> None:
    batch = client.BatchV1Api(dev.api())
    before = batch.read_namespaced_job("training-bootstrap", dev.namespace).metadata.uid
    dev.set(trainingImage=prebuilt_image("mlops-training", 2))
    dev.up()
    job = batch.read_namespaced_job("training-bootstrap", dev.namespace)
    assert job.metadata.uid != before
    assert job.spec.template.spec.containers[0].image == prebuilt_image("mlops-training", 2)
    assert job.status.succeeded == 1
    cron = batch.read_namespaced_cron_job("training-retrain", dev.namespace)
    assert cron.spec.job_template.spec.template.spec.containers[0].image == prebuilt_image(
        "mlops-training", 2
    )


def test_new_serving_image_rolls_out_after_the_hpa_scaled_the_deployment(dev: EngineStack) -> None:
    apps = client.AppsV1Api(dev.api())
    # What the HPA controller does: write replicas through the scale subresource (its own field manager).
    apps.patch_namespaced_deployment_scale(
        "serving", dev.namespace, {"spec": {"replicas": 3}}, field_manager="horizontal-pod-autoscaler"
    )
    dev.set(servingImage=prebuilt_image("mlops-serving", 2))
    dev.up()
    deployment = apps.read_namespaced_deployment("serving", dev.namespace)
    assert deployment.spec.template.spec.containers[0].image == prebuilt_image("mlops-serving", 2)
    # Pulumi does not own replicas, so the scaled count survives the update.
    assert deployment.spec.replicas == 3


def _migration_jobs(dev: EngineStack) -> list[Any]:
    jobs = client.BatchV1Api(dev.api()).list_namespaced_job(dev.namespace).items
    return [j for j in jobs if j.metadata.name.startswith(f"{MIGRATION_JOB_PREFIX}-")]


def test_mlflow_was_created_after_the_schema_migration_completed(dev: EngineStack) -> None:
    (job,) = _migration_jobs(dev)
    assert job.status.succeeded == 1
    deployment = client.AppsV1Api(dev.api()).read_namespaced_deployment("mlflow", dev.namespace)
    assert deployment.metadata.creation_timestamp >= job.status.completion_time
    backup = client.BatchV1Api(dev.api()).read_namespaced_cron_job("mlflow-backup", dev.namespace)
    assert backup.spec.job_template.spec.template.spec.volumes[0].persistent_volume_claim.claim_name == (
        "mlflow-backups"
    )


def test_new_mlflow_image_is_migrated_for_before_mlflow_rolls_out(dev: EngineStack) -> None:
    (old,) = _migration_jobs(dev)
    image = prebuilt_image("mlops-mlflow", 2)
    dev.set(mlflowImage=image)
    dev.up()
    # A new Job for the new image, created and awaited first; the old one is gone.
    (job,) = _migration_jobs(dev)
    assert job.metadata.name == migration_job_name(image) != old.metadata.name
    assert job.spec.template.spec.containers[0].image == image
    assert job.status.succeeded == 1
    apps = client.AppsV1Api(dev.api())
    assert (
        apps.read_namespaced_deployment("mlflow", dev.namespace).spec.template.spec.containers[0].image
        == image
    )
    (rollout,) = [
        rs
        for rs in apps.list_namespaced_replica_set(dev.namespace).items
        if rs.metadata.owner_references[0].name == "mlflow"
        and rs.spec.template.spec.containers[0].image == image
    ]
    assert rollout.metadata.creation_timestamp >= job.status.completion_time


def test_destroy_leaves_nothing_of_the_stack(dev: EngineStack) -> None:
    dev.destroy()
    core = client.CoreV1Api(dev.api())
    # The same check the preview tool runs after its destroys (namespaces, claims, volumes).
    left = wait_for_cleanup(lambda: find_leftovers(core, dev.name, dev.namespace), timeout=60, interval=1)
    assert left == []
