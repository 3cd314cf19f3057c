"""The whole program under Pulumi mocks, for each cluster mode: objects, wiring, parentage, protection, outputs.

Pulumi's engine and providers cannot run here (no CLI, no cluster): `pulumi.runtime.set_mocks` stands in for
them. Everything above the engine (the program, its components, config validation) is the real code.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from infra.mlops_platform import DEV_BUDGET
from infra.render import PLACEHOLDER_NODE_IP, MockedStack, platform_program, run_program, stack_config
from mlops_contract.names import CHAMPION_ALIAS, MLFLOW_PORT, SERVING_SHUTDOWN_GRACE_SECONDS, Env
from tests.infra.conftest import STACK_OVERRIDES, built, config_for, env_of, find, pod_specs

# pulumi.runtime.rpc's markers: a special value, and the kind "secret".
SPECIAL_SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
NAMESPACED_KINDS = {
    "Deployment", "StatefulSet", "Job", "CronJob", "Service", "ServiceAccount", "Secret", "ConfigMap",
    "PersistentVolumeClaim", "NetworkPolicy", "PodDisruptionBudget", "HorizontalPodAutoscaler", "Role",
    "RoleBinding", "ResourceQuota", "LimitRange",
}  # fmt: skip
# Cluster-scoped by nature; their names carry the namespace, so stacks on one cluster do not collide.
ADMISSION_KINDS = {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}


def test_every_mode_declares_the_platform(stack: MockedStack, mode: str) -> None:
    kinds = Counter(m["kind"] for m in stack.manifests())
    assert kinds["Namespace"] == 1
    assert kinds["StatefulSet"] == 1  # PostgreSQL
    # MLflow, serving, Prometheus, Alertmanager, retrain trigger, kube-state-metrics, Grafana
    assert kinds["Deployment"] == 7
    # Jobs: bootstrap training, MLflow identities, schema migration; CronJobs: retraining, backup, mlflow gc
    assert kinds["Job"] == 3 and kinds["CronJob"] == 3
    assert kinds["PodDisruptionBudget"] == 1 and kinds["HorizontalPodAutoscaler"] == 1
    assert kinds["NetworkPolicy"] >= 3
    types = Counter(r.type for r in stack.resources)
    # MLflow x3, its workload users x3, Grafana password and key, the retrain trigger token
    assert types["random:index/randomPassword:RandomPassword"] == 9
    assert types["docker:index/image:Image"] == 4
    # RBAC only where an app calls the API, and only namespaced.
    assert kinds["Role"] == kinds["RoleBinding"] == 3
    assert kinds["ClusterRole"] == kinds["ClusterRoleBinding"] == 0


def test_every_namespaced_object_is_in_the_stack_namespace(stack: MockedStack, mode: str) -> None:
    namespace = config_for(mode).namespace
    manifests = stack.manifests()
    assert find(manifests, "Namespace", namespace)
    for m in manifests:
        if m["kind"] in NAMESPACED_KINDS:
            assert m["metadata"]["namespace"] == namespace, f"{m['kind']}/{m['metadata']['name']}"
        assert m["metadata"]["labels"]["mlops.platform/stack"] == config_for(mode).stack
    # Nothing cluster-scoped besides the namespace and the trigger's admission policy, named after it.
    assert {m["kind"] for m in manifests} - NAMESPACED_KINDS == {"Namespace", *ADMISSION_KINDS}
    for m in manifests:
        if m["kind"] in ADMISSION_KINDS:
            assert m["metadata"]["name"].endswith(f"-{namespace}")


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
    assert env_of(serving)[Env.MODEL_ALIAS] == CHAMPION_ALIAS
    # Credentials only by reference, each workload to its own MLflow user's Secret, never the admin's.
    for container, user in ((serving, "serving"), (job, "training"), (cron["containers"][0], "training")):
        secret = find(manifests, "Secret", f"mlflow-{user}-credentials")
        assert secret["stringData"]["username"] == user
        for var in (Env.TRACKING_USERNAME, Env.TRACKING_PASSWORD):
            ref = env_of(container)[var]["secretKeyRef"]
            assert ref["name"] == f"mlflow-{user}-credentials" and ref["key"] in secret["stringData"]


def test_mlflow_accepts_the_host_names_its_clients_use(stack: MockedStack, mode: str) -> None:
    container = find(stack.manifests(), "Deployment", "mlflow")["spec"]["template"]["spec"]["containers"][0]
    flags = [
        a.removeprefix("--allowed-hosts=") for a in container["args"] if a.startswith("--allowed-hosts=")
    ]
    hosts = set(flags[0].split(","))
    namespace = config_for(mode).namespace
    assert {"mlflow:*", f"mlflow.{namespace}.svc.cluster.local:*", "localhost:*"} <= hosts
    if mode == "minikube":
        # The list replaces MLflow's defaults: the NodePort URL on the minikube IP must be in it.
        ip = PLACEHOLDER_NODE_IP
        assert {ip, f"{ip}:*"} <= hosts
        assert stack.outputs["mlflowUrl"] == f"http://{ip}:30500"
    else:
        assert PLACEHOLDER_NODE_IP not in flags[0]


def test_serving_waits_for_the_bootstrap_job(stack: MockedStack) -> None:
    assert stack.by_name("training-bootstrap").type == "kubernetes:batch/v1:Job"
    assert "training-bootstrap" in stack.by_name("serving-deployment").depends_on
    # ...and the bootstrap Job is awaited: no TTL that would delete it behind Pulumi's back.
    job = find(stack.manifests(), "Job", "training-bootstrap")
    assert "ttlSecondsAfterFinished" not in job["spec"]
    # A failed bootstrap is replaced (trained again) by the next `pulumi up` instead of awaited forever.
    assert job["metadata"]["annotations"] == {"pulumi.com/replaceUnready": "true"}


def test_retraining_cronjob_is_bounded(stack: MockedStack, mode: str) -> None:
    cron = find(stack.manifests(), "CronJob", "training-retrain")["spec"]
    assert cron["schedule"] == config_for(mode).retrain_schedule
    assert cron["concurrencyPolicy"] == "Forbid"
    assert cron["startingDeadlineSeconds"] > 0
    assert cron["successfulJobsHistoryLimit"] >= 1 and cron["failedJobsHistoryLimit"] >= 1
    job = cron["jobTemplate"]["spec"]
    assert job["activeDeadlineSeconds"] > 0 and job["ttlSecondsAfterFinished"] > 0


def test_training_jobs_run_with_the_stacks_validation_strictness(stack: MockedStack, mode: str) -> None:
    for kind, name in (("CronJob", "training-retrain"), ("Job", "training-bootstrap")):
        spec = find(stack.manifests(), kind, name)["spec"]
        pod = (spec["jobTemplate"]["spec"] if kind == "CronJob" else spec)["template"]["spec"]
        env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
        assert env["MLOPS_VALIDATION"] == config_for(mode).training_validation == "standard"


def test_serving_is_available_through_rollouts(stack: MockedStack, mode: str) -> None:
    manifests = stack.manifests()
    deployment = find(manifests, "Deployment", "serving")["spec"]
    replicas = config_for(mode).serving_replicas
    # The HPA owns the count: a `replicas` here would fight the HPA controller under server-side apply.
    assert "replicas" not in deployment
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
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "serving"}
    # The budget still counts the HPA minimum.
    assert stack.outputs["resourceRequests"]["serving"]["cpu"] == f"{100 * replicas}m"


def test_every_pod_is_hardened_and_bounded(stack: MockedStack) -> None:
    specs = pod_specs(stack.manifests())
    assert len(specs) == 14
    api_users = {"Deployment/prometheus", "Deployment/retrain-trigger", "Deployment/kube-state-metrics"}
    for where, spec in specs:
        assert spec["securityContext"]["runAsNonRoot"] is True, where
        assert spec["securityContext"]["runAsUser"] >= 10000, where
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", where
        assert spec["automountServiceAccountToken"] is (where in api_users), where
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
                # A *_FILE variable holds the path of a mounted Secret key, not the secret.
                secret_like = "PASSWORD" in var["name"] and not var["name"].endswith("_FILE")
                assert not secret_like or "valueFrom" in var, f"{where}: {var['name']}"


def test_volumes_and_their_namespace_outlive_destroy_only_in_long_lived_stacks() -> None:
    kept = {"kubernetes:core/v1:PersistentVolumeClaim", "kubernetes:core/v1:Namespace"}
    for mode, expect in (("kind", False), ("existing", True), ("preview", False), ("minikube", False)):
        stack = built(mode)
        assert config_for(mode).protect_volumes is expect
        retained = {r.type for r in stack.resources if r.retain_on_delete}
        assert retained == (kept if expect else set()), mode
        # Never `protect`: it would make `pulumi destroy` fail rather than keep the data.
        assert not [r.name for r in stack.resources if r.protect], mode
        statefulset = find(stack.manifests(), "StatefulSet", "mlflow-postgres")
        policy = statefulset["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"]
        assert policy == ("Retain" if expect else "Delete")


def test_explicit_volume_protection_overrides_auto() -> None:
    stack = run_program(stack_config("dev", {"protectVolumes": "true"}), platform_program)
    assert {r.name for r in stack.resources if r.retain_on_delete} == {
        "namespace-namespace",
        "mlflow-artifacts",
        "training-data-claim",
        "mlflow-maintenance-backups",
    }


def test_a_preview_namespace_carries_its_expiry(stack: MockedStack, mode: str) -> None:
    """So `python -m previews gc` can find it even when its stack is gone."""
    metadata = find(stack.manifests(), "Namespace", config_for(mode).namespace)["metadata"]
    if mode == "preview":
        assert metadata["labels"]["mlops.platform/preview"] == "true"
        assert metadata["annotations"] == {"mlops.platform/expires-at": "2030-01-31T18:00:00Z"}
    else:
        assert "mlops.platform/preview" not in metadata["labels"]
        assert "annotations" not in metadata


def test_every_resource_belongs_to_a_platform_component(stack: MockedStack, mode: str) -> None:
    components = {r.name: r for r in stack.resources if r.type.startswith("mlops:index:")}
    # The inference-log volume only where the stack turns the log on.
    optional = {"mlops:index:InferenceLogVolume"} if config_for(mode).inference_log.enabled else set()
    assert {r.type for r in components.values()} == {
        "mlops:index:Cluster", "mlops:index:Images", "mlops:index:Namespace", "mlops:index:MlflowServer",
        "mlops:index:TrainingJobs", "mlops:index:Serving", "mlops:index:Monitoring", "mlops:index:AppDeployment",
        "mlops:index:MlflowIdentities", "mlops:index:RetrainAdmission", "mlops:index:NamespaceLimits",
        "mlops:index:TrainingDataVolume", "mlops:index:MlflowMaintenance",
    } | optional  # fmt: skip
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
        assert len(loads) == 4 and all(tool in str(r.inputs["create"]) for r in loads)


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
    assert set(out["images"]) == {"mlops-serving", "mlops-training", "mlops-mlflow", "mlops-retrain-trigger"}
    assert set(out["resourceRequests"]) == {
        "postgres", "mlflow", "training", "serving", "prometheus", "alertmanager", "grafana", "retrain-trigger",
        "kube-state-metrics", "mlflow-db-upgrade",
    }  # fmt: skip
    assert out["backupCronJob"] == "mlflow-backup"
    assert out["grafanaAdminSecret"] == "grafana-admin"
    if mode == "kind":
        assert out["mlflowUrl"] == "http://localhost:5000" and out["servingUrl"] == "http://localhost:8000"
        assert (
            out["grafanaUrl"] == "http://localhost:3000" and out["prometheusUrl"] == "http://localhost:9090"
        )
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
    manifests = stack.manifests()
    # A Deployment an HPA scales has no replicas of its own: it runs at least the HPA's minimum.
    scaled = {
        f"{m['spec']['scaleTargetRef']['kind']}/{m['spec']['scaleTargetRef']['name']}": m["spec"][
            "minReplicas"
        ]
        for m in manifests
        if m["kind"] == "HorizontalPodAutoscaler"
    }
    out = []
    for where, spec in pod_specs(manifests):
        if where.startswith("CronJob/"):
            continue  # the same pod as the bootstrap Job, never concurrent (Forbid)
        if where == "Job/mlflow-identities":
            continue  # runs once per deploy, done before training starts
        replicas = scaled.get(where) or next(
            m["spec"].get("replicas", 1) for m in manifests if f"{m['kind']}/{m['metadata']['name']}" == where
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


def _mounted_secret_file(pod: dict[str, Any], secret: str) -> str:
    """The path at which the pod's container sees the one key it mounts of `secret`."""
    volume = next(v for v in pod["volumes"] if v.get("secret", {}).get("secretName") == secret)
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == volume["name"])
    return f"{mount['mountPath']}/{volume['secret']['items'][0]['path']}"


def test_monitoring_is_wired_to_the_platform(stack: MockedStack, mode: str) -> None:
    import yaml

    manifests = stack.manifests()
    namespace = config_for(mode).namespace
    prom = yaml.safe_load(find(manifests, "ConfigMap", "prometheus-config")["data"]["prometheus.yml"])
    jobs = {j["job_name"]: j for j in prom["scrape_configs"]}
    assert jobs["serving"]["kubernetes_sd_configs"][0]["namespaces"]["names"] == [namespace]
    # MLflow is scraped through its Service as Prometheus' own user, its password file from its own Secret.
    assert jobs["mlflow"]["static_configs"][0]["targets"] == ["mlflow:5000"]
    assert jobs["mlflow"]["basic_auth"]["username"] == "prometheus"
    prom_pod = find(manifests, "Deployment", "prometheus")["spec"]["template"]["spec"]
    mounted = {v["name"]: v for v in prom_pod["volumes"]}
    assert mounted["mlflow-password"]["secret"]["secretName"] == "mlflow-prometheus-credentials"
    password_file = jobs["mlflow"]["basic_auth"]["password_file"]
    mount = next(m for m in prom_pod["containers"][0]["volumeMounts"] if m["name"] == "mlflow-password")
    assert password_file == f"{mount['mountPath']}/{mounted['mlflow-password']['secret']['items'][0]['path']}"
    rule_file = prom["rule_files"][0]
    rules_mount = next(m for m in prom_pod["containers"][0]["volumeMounts"] if m["name"] == "rules")
    assert rule_file.startswith(rules_mount["mountPath"] + "/")
    # Alertmanager -> retrain trigger Service; the trigger may only read the CronJob and create Jobs.
    am = yaml.safe_load(find(manifests, "ConfigMap", "alertmanager-config")["data"]["alertmanager.yml"])
    trigger_service = find(manifests, "Service", "retrain-trigger")
    port = trigger_service["spec"]["ports"][0]["port"]
    hooks = [h for r in am["receivers"] for h in r.get("webhook_configs", [])]
    assert [h["url"] for h in hooks] == [f"http://retrain-trigger:{port}/v1/alerts"]
    # Both ends read the bearer token from the same Secret, mounted as a file.
    am_pod = find(manifests, "Deployment", "alertmanager")["spec"]["template"]["spec"]
    trigger_pod = find(manifests, "Deployment", "retrain-trigger")["spec"]["template"]["spec"]
    token_file = hooks[0]["http_config"]["authorization"]["credentials_file"]
    assert token_file == _mounted_secret_file(am_pod, "retrain-trigger-token")
    assert env_of(trigger_pod["containers"][0])[Env.TRIGGER_TOKEN_FILE] == _mounted_secret_file(
        trigger_pod, "retrain-trigger-token"
    )
    role = find(manifests, "Role", "retrain-trigger")
    assert role["rules"] == [
        {
            "apiGroups": ["batch"],
            "resources": ["cronjobs"],
            "resourceNames": ["training-retrain"],
            "verbs": ["get"],
        },
        {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "list"]},
    ]
    trigger_env = env_of(
        find(manifests, "Deployment", "retrain-trigger")["spec"]["template"]["spec"]["containers"][0]
    )
    assert trigger_env[Env.RETRAIN_CRONJOB] == "training-retrain" and trigger_env[Env.NAMESPACE] == namespace
    # Grafana: generated admin password by reference; dashboards and datasource provisioned.
    grafana = find(manifests, "Deployment", "grafana")["spec"]["template"]["spec"]["containers"][0]
    assert env_of(grafana)["GF_SECURITY_ADMIN_PASSWORD"]["secretKeyRef"] == {
        "name": "grafana-admin",
        "key": "admin-password",
    }
    dashboards = find(manifests, "ConfigMap", "grafana-dashboards")["data"]
    assert set(dashboards) == {"mlops-serving.json", "mlops-platform.json"}
    datasource = yaml.safe_load(
        find(manifests, "ConfigMap", "grafana-datasources")["data"]["datasources.yaml"]
    )
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"


def test_readme_publishes_the_budget_the_program_declares() -> None:
    import re

    from infra.schema import REPO_ROOT

    readme = (REPO_ROOT / "README.md").read_text()
    table = readme.split("### Resource budget (dev stack)", 1)[1].split("###", 1)[0]
    pattern = r"^\| \**([\w-]+)\** \| \**(\w+)\** \| \**(\w+)\** \|$"
    rows = {n: (cpu, mem) for n, cpu, mem in re.findall(pattern, table, re.MULTILINE) if n != "component"}
    out = built("kind").outputs
    expected = {name: (r["cpu"], r["memory"]) for name, r in out["resourceRequests"].items()}
    expected["total"] = (out["resourceRequestsTotal"]["cpu"], out["resourceRequestsTotal"]["memory"])
    assert rows == expected


def test_an_existing_cluster_is_reached_through_the_resolved_kubeconfig_and_context(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "prod.yaml"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    _, overrides = STACK_OVERRIDES["existing"]
    stack = run_program(stack_config("prod", {**overrides, "kubeconfig": str(kubeconfig)}), platform_program)
    provider = next(r for r in stack.resources if r.type == "pulumi:providers:kubernetes")
    assert provider.inputs["kubeconfig"] == str(kubeconfig)
    assert provider.inputs["context"] == "prod-cluster"


def test_serving_admission_limit_comes_from_stack_config_and_fits_the_pod(
    stack: MockedStack, mode: str
) -> None:
    pod = find(stack.manifests(), "Deployment", "serving")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    in_flight = int(env_of(container)[Env.MAX_IN_FLIGHT])
    assert in_flight == config_for(mode).serving_max_in_flight
    # 2 MiB per in-flight 1000-row request (twice the measured cost) over a ~200 MiB baseline (docs/reliability.md).
    limit_mib = int(container["resources"]["limits"]["memory"].removesuffix("Mi"))
    assert 200 + 2 * in_flight <= 0.8 * limit_mib
    # SIGTERM lets requests finish for serving's own grace; the pod must not be killed before that ends.
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pod["terminationGracePeriodSeconds"] > pre_stop + SERVING_SHUTDOWN_GRACE_SECONDS
