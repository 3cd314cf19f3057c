"""The whole program under Pulumi mocks, for each cluster mode: objects, wiring, parentage, protection, outputs.

Pulumi's engine and providers cannot run here (no CLI, no cluster): `pulumi.runtime.set_mocks` stands in for
them. Everything above the engine (the program, its components, config validation) is the real code.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from infra.mlops_platform import DEV_BUDGET
from infra.render import MockedStack
from mlops_contract.names import CHAMPION_ALIAS, MLFLOW_PORT, Env
from tests.infra.conftest import built, config_for, env_of, find, pod_specs

NAMESPACED_KINDS = {
    "Deployment", "StatefulSet", "Job", "CronJob", "Service", "ServiceAccount", "Secret", "ConfigMap",
    "PersistentVolumeClaim", "NetworkPolicy", "PodDisruptionBudget", "HorizontalPodAutoscaler",
}  # fmt: skip


def test_every_mode_declares_the_platform(stack: MockedStack, mode: str) -> None:
    kinds = Counter(m["kind"] for m in stack.manifests())
    assert kinds["Namespace"] == 1
    assert kinds["StatefulSet"] == 1  # PostgreSQL
    assert kinds["Deployment"] == 2  # MLflow, serving
    assert kinds["Job"] == 1 and kinds["CronJob"] == 1
    assert kinds["PodDisruptionBudget"] == 1 and kinds["HorizontalPodAutoscaler"] == 1
    assert kinds["NetworkPolicy"] >= 3
    types = Counter(r.type for r in stack.resources)
    assert types["random:index/randomPassword:RandomPassword"] == 3
    assert types["docker:index/image:Image"] == 3


def test_every_namespaced_object_is_in_the_stack_namespace(stack: MockedStack, mode: str) -> None:
    namespace = config_for(mode).namespace
    manifests = stack.manifests()
    assert find(manifests, "Namespace", namespace)
    for m in manifests:
        if m["kind"] in NAMESPACED_KINDS:
            assert m["metadata"]["namespace"] == namespace, f"{m['kind']}/{m['metadata']['name']}"
        assert m["metadata"]["labels"]["mlops.platform/stack"] == config_for(mode).stack
    # Nothing cluster-scoped besides the namespace itself: two stacks on one cluster cannot collide.
    assert {m["kind"] for m in manifests} - NAMESPACED_KINDS == {"Namespace"}


def test_serving_and_training_point_at_the_mlflow_service(stack: MockedStack, mode: str) -> None:
    manifests = stack.manifests()
    namespace = config_for(mode).namespace
    service = find(manifests, "Service", "mlflow")
    assert service["spec"]["ports"][0]["port"] == MLFLOW_PORT
    expected = f"http://mlflow.{namespace}.svc.cluster.local:{MLFLOW_PORT}"
    serving = find(manifests, "Deployment", "serving")["spec"]["template"]["spec"]["containers"][0]
    job = find(manifests, "Job", "training-bootstrap")["spec"]["template"]["spec"]["containers"][0]
    cron = find(manifests, "CronJob", "training-retrain")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    for container in (serving, job, cron["containers"][0]):
        env = env_of(container)
        assert env[Env.TRACKING_URI] == expected
        assert env[Env.MODEL_NAME] == config_for(mode).model_name
        # Credentials only by reference to the generated Secret.
        for var in (Env.TRACKING_USERNAME, Env.TRACKING_PASSWORD):
            assert env[var]["secretKeyRef"]["name"] == "mlflow-credentials"
    assert env_of(serving)[Env.MODEL_ALIAS] == CHAMPION_ALIAS
    secret = find(manifests, "Secret", "mlflow-credentials")
    for container in (serving, job):
        for value in env_of(container).values():
            if isinstance(value, dict):
                assert value["secretKeyRef"]["key"] in secret["stringData"]


def test_serving_waits_for_the_bootstrap_job(stack: MockedStack) -> None:
    assert stack.by_name("training-bootstrap").type == "kubernetes:batch/v1:Job"
    assert "training-bootstrap" in stack.by_name("serving-deployment").depends_on
    # ...and the bootstrap Job is awaited: no TTL that would delete it behind Pulumi's back.
    job = find(stack.manifests(), "Job", "training-bootstrap")
    assert "ttlSecondsAfterFinished" not in job["spec"]


def test_retraining_cronjob_is_bounded(stack: MockedStack, mode: str) -> None:
    cron = find(stack.manifests(), "CronJob", "training-retrain")["spec"]
    assert cron["schedule"] == config_for(mode).retrain_schedule
    assert cron["concurrencyPolicy"] == "Forbid"
    assert cron["startingDeadlineSeconds"] > 0
    assert cron["successfulJobsHistoryLimit"] >= 1 and cron["failedJobsHistoryLimit"] >= 1
    job = cron["jobTemplate"]["spec"]
    assert job["activeDeadlineSeconds"] > 0 and job["ttlSecondsAfterFinished"] > 0


def test_serving_is_available_through_rollouts(stack: MockedStack, mode: str) -> None:
    manifests = stack.manifests()
    deployment = find(manifests, "Deployment", "serving")["spec"]
    replicas = config_for(mode).serving_replicas
    assert deployment["replicas"] == replicas
    assert deployment["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = deployment["template"]
    assert pod["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    container = pod["spec"]["containers"][0]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert probe in container
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert (
        container["lifecycle"]["preStop"]["sleep"]["seconds"] < pod["spec"]["terminationGracePeriodSeconds"]
    )
    pdb = find(manifests, "PodDisruptionBudget", "serving")["spec"]
    assert pdb["minAvailable"] == (1 if replicas > 1 else 0)
    hpa = find(manifests, "HorizontalPodAutoscaler", "serving")["spec"]
    assert hpa["minReplicas"] == replicas and hpa["maxReplicas"] == config_for(mode).serving_max_replicas


def test_every_pod_is_hardened_and_bounded(stack: MockedStack) -> None:
    specs = pod_specs(stack.manifests())
    assert len(specs) == 5
    for where, spec in specs:
        assert spec["securityContext"]["runAsNonRoot"] is True, where
        assert spec["securityContext"]["runAsUser"] >= 10000, where
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", where
        assert spec["automountServiceAccountToken"] is False, where
        assert spec["serviceAccountName"] not in {"", "default"}, where
        for container in spec["containers"] + spec.get("initContainers", []):
            ctx = container["securityContext"]
            assert ctx["allowPrivilegeEscalation"] is False, where
            assert ctx["readOnlyRootFilesystem"] is True, where
            assert ctx["capabilities"]["drop"] == ["ALL"], where
            resources = container["resources"]
            assert set(resources["requests"]) == {"cpu", "memory"}, where
            assert set(resources["limits"]) == {"cpu", "memory"}, where
            image = container["image"]
            assert ":" in image and not image.endswith(":latest"), where
            for var in container.get("env", []):
                assert "PASSWORD" not in var["name"] or "valueFrom" in var, f"{where}: {var['name']}"


def test_volumes_are_protected_only_in_long_lived_stacks() -> None:
    stateful = {"kubernetes:apps/v1:StatefulSet", "kubernetes:core/v1:PersistentVolumeClaim"}
    for mode, expect in (("kind", False), ("existing", True), ("preview", False), ("minikube", True)):
        stack = built(mode)
        assert config_for(mode).protect_volumes is expect
        for resource in stack.resources:
            if resource.type in stateful:
                assert resource.protect is expect, (mode, resource.name)
                assert resource.retain_on_delete is expect, (mode, resource.name)
            else:
                assert resource.protect is False, (mode, resource.name)
        statefulset = find(stack.manifests(), "StatefulSet", "mlflow-postgres")
        policy = statefulset["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"]
        assert policy == ("Retain" if expect else "Delete")


def test_every_resource_belongs_to_a_platform_component(stack: MockedStack) -> None:
    components = {r.name: r for r in stack.resources if r.type.startswith("mlops:index:")}
    assert {r.type for r in components.values()} == {
        "mlops:index:Cluster", "mlops:index:Images", "mlops:index:Namespace", "mlops:index:MlflowServer",
        "mlops:index:TrainingJobs", "mlops:index:Serving",
    }  # fmt: skip
    for resource in stack.resources:
        if resource.type.startswith(("mlops:index:", "pulumi:providers:")):
            continue
        assert resource.parent in components, f"{resource.type} {resource.name} has parent {resource.parent}"


def test_images_are_content_tagged_and_delivered_per_mode(stack: MockedStack, mode: str) -> None:
    images = [r for r in stack.resources if r.type == "docker:index/image:Image"]
    loads = [r for r in stack.resources if r.type == "command:local:Command" and "load" in r.name]
    for image in images:
        repository, tag = image.inputs["imageName"].rsplit(":", 1)
        assert len(tag) == 12 and tag != "latest"
        if mode == "existing":
            assert repository.startswith("registry.example.com/mlops/mlops-")
            assert image.inputs["skipPush"] is False
        else:
            assert "/" not in repository and image.inputs["skipPush"] is True
    if mode == "existing":
        assert loads == []
    else:
        tool = "minikube -p mlops-mk image load" if mode == "minikube" else "kind load docker-image"
        assert len(loads) == 3 and all(tool in str(r.inputs["create"]) for r in loads)


def test_cluster_lifecycle_commands_per_mode(stack: MockedStack, mode: str) -> None:
    commands = {r.name: r.inputs for r in stack.resources if r.type == "command:local:Command"}
    if mode == "kind":
        kind = commands["cluster-kind"]
        assert "kind create cluster --name mlops" in kind["create"]
        assert kind["delete"] == "kind delete cluster --name mlops"
        assert "kindest/node:v1.33.1" in kind["stdin"] and "hostPort: 8000" in kind["stdin"]
    elif mode == "minikube":
        assert "minikube start -p mlops-mk" in commands["cluster-minikube"]["create"]
        assert commands["cluster-minikube"]["delete"] == "minikube delete -p mlops-mk"
    else:
        assert not any(name.startswith("cluster-") for name in commands)
    provider = next(r for r in stack.resources if r.type == "pulumi:providers:kubernetes")
    if mode == "existing":
        assert provider.inputs["context"] == "prod-cluster"
    if mode == "minikube":
        assert provider.inputs["context"] == "mlops-mk"


def test_outputs(stack: MockedStack, mode: str) -> None:
    out = stack.outputs
    cfg = config_for(mode)
    assert out["namespace"] == cfg.namespace
    assert set(out["images"]) == {"mlops-serving", "mlops-training", "mlops-mlflow"}
    assert set(out["resourceRequests"]) == {"postgres", "mlflow", "training", "serving"}
    if mode == "kind":
        assert out["mlflowUrl"] == "http://localhost:5000" and out["servingUrl"] == "http://localhost:8000"
    elif mode == "minikube":
        assert out["servingUrl"].startswith("http://") and out["servingUrl"].endswith(":30800")
    else:
        assert out["servingUrl"] == f"http://serving.{cfg.namespace}.svc.cluster.local:8000"
    assert out["mlflowInClusterUrl"] == f"http://mlflow.{cfg.namespace}.svc.cluster.local:5000"


def test_dev_stack_fits_the_published_budget() -> None:
    total = built("kind").outputs["resourceRequestsTotal"]
    cpu_m = int(total["cpu"].removesuffix("m"))
    memory_mi = int(total["memory"].removesuffix("Mi"))
    assert cpu_m <= DEV_BUDGET.cpu_request_m, total
    assert memory_mi <= DEV_BUDGET.memory_request_mi, total
    # The sum is computed from the rendered containers, not a separate table.
    rendered_cpu = sum(
        int(c["resources"]["requests"]["cpu"].removesuffix("m")) * replicas
        for replicas, spec in _running_pods(built("kind"))
        for c in spec["containers"]
    )
    assert rendered_cpu == cpu_m


def _running_pods(stack: MockedStack) -> list[tuple[int, dict[str, Any]]]:
    """(replicas, pod spec) of what runs at steady state plus one training run."""
    out = []
    for where, spec in pod_specs(stack.manifests()):
        if where.startswith("CronJob/"):
            continue  # the same pod as the bootstrap Job, never concurrent (Forbid)
        replicas = next(
            m["spec"].get("replicas", 1)
            for m in stack.manifests()
            if f"{m['kind']}/{m['metadata']['name']}" == where
        )
        out.append((replicas, spec))
    return out


@pytest.mark.parametrize("mode_name", ["kind"])
def test_preview_differs_from_dev_only_where_intended(mode_name: str) -> None:
    dev, preview = built(mode_name), built("preview")
    preview_services = [m for m in preview.manifests() if m["kind"] == "Service"]
    assert all(s["spec"].get("type", "ClusterIP") == "ClusterIP" for s in preview_services)
    dev_services = {m["metadata"]["name"]: m for m in dev.manifests() if m["kind"] == "Service"}
    assert dev_services["serving"]["spec"]["type"] == "NodePort"
