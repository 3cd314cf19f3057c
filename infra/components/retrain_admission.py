"""What the retrain trigger may create: only Jobs cloned from the retraining CronJob's pod template.

RBAC can say "create jobs" but not "jobs like this one", so a ValidatingAdmissionPolicy, bound to requests
from the trigger's service account in this namespace, compares each Job with the values that build the
CronJob's template (TrainingJobs.pod_template): image, service account, volumes, env, labels, no command.
CEL cannot read the CronJob itself, so the expected values are literals generated from the same Pulumi
inputs; a changed template changes the policy in the same `pulumi up`.

ValidatingAdmissionPolicy and its binding are cluster-scoped: their names carry the namespace so stacks on
one cluster do not collide.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from pulumi import Input, Output, ResourceOptions

from infra.components.pod_security import labels

# Added by the API server to every Job's pod template before admission (the Job's selector).
GENERATED_POD_LABELS = (
    "batch.kubernetes.io/controller-uid",
    "batch.kubernetes.io/job-name",
    "controller-uid",
    "job-name",
)
POD = "object.spec.template.spec"


@dataclass(frozen=True)
class RetrainAdmissionArgs:
    """The trigger's identity and the template its Jobs must match."""

    namespace: str
    stack: str
    trigger_service_account: str
    pod_template: k8s.core.v1.PodTemplateSpecArgs
    """TrainingJobs.pod_template: the same object the CronJob is built from."""
    namespace_uid: Input[str | None] = None
    """The Namespace's uid: the policy and binding are owned by it and deleted with it."""


def _lit(value: str) -> str:
    """A CEL string literal (JSON's escaping is valid CEL)."""
    return json.dumps(value)


def _env_rule(env: list[dict[str, Any]]) -> str:
    """The container's env is exactly this list (same names, values and Secret references)."""
    checks = [f"size({POD}.containers[0].env) == {len(env)}"]
    for var in env:
        if "value" in var:
            match = f"has(e.value) && e.value == {_lit(var['value'])}"
        else:
            ref = var["secret"]
            match = (
                "has(e.valueFrom) && has(e.valueFrom.secretKeyRef) && "
                f"e.valueFrom.secretKeyRef.name == {_lit(ref[0])} && "
                f"e.valueFrom.secretKeyRef.key == {_lit(ref[1])}"
            )
        checks.append(f"{POD}.containers[0].env.exists(e, e.name == {_lit(var['name'])} && {match})")
    return f"has({POD}.containers[0].env) && " + " && ".join(checks)


def clone_validations(expected: dict[str, Any]) -> list[dict[str, str]]:
    """CEL validations (expression + message) for a Job matching `expected` (see `_expected`)."""
    label_map = "{" + ", ".join(f"{_lit(k)}: {_lit(v)}" for k, v in sorted(expected["labels"].items())) + "}"
    allowed_keys = "[" + ", ".join(_lit(k) for k in [*expected["labels"], *GENERATED_POD_LABELS]) + "]"
    volumes = "{" + ", ".join(f"{_lit(k)}: {_lit(v)}" for k, v in sorted(expected["volumes"].items())) + "}"
    rules = [
        (
            f"has({POD}.serviceAccountName) && {POD}.serviceAccountName == {_lit(expected['account'])} && "
            f"has({POD}.automountServiceAccountToken) && {POD}.automountServiceAccountToken == false",
            "the pod must run as the retraining CronJob's service account, without an API token",
        ),
        (
            f"size({POD}.containers) == 1 && !has({POD}.initContainers) && "
            f"!has({POD}.ephemeralContainers) && {POD}.containers[0].image == {_lit(expected['image'])}",
            "the Job must run exactly the retraining CronJob's container image",
        ),
        (
            f"!has({POD}.containers[0].command) && !has({POD}.containers[0].args) && "
            f"!has({POD}.containers[0].envFrom)",
            "the Job must not override the training command, arguments or add envFrom",
        ),
        (_env_rule(expected["env"]), "the Job's environment must be the retraining CronJob's"),
        (
            # "" marks a scratch emptyDir; otherwise the claim the CronJob mounts (read-only, see below).
            f"(has({POD}.volumes) ? {POD}.volumes : []).all(v, v.name in {volumes} && "
            f"({volumes}[v.name] == '' ? has(v.emptyDir) : "
            f"(has(v.persistentVolumeClaim) && v.persistentVolumeClaim.claimName == {volumes}[v.name]))) && "
            f"size(has({POD}.volumes) ? {POD}.volumes : []) == {len(expected['volumes'])}",
            "the Job may mount only the retraining CronJob's volumes (no Secrets, host paths, other claims)",
        ),
        (
            f"!has({POD}.containers[0].volumeMounts) || {POD}.containers[0].volumeMounts.all(m, "
            f"m.name in {volumes} && ({volumes}[m.name] == '' || (has(m.readOnly) && m.readOnly)))",
            "the Job must mount the retraining CronJob's data claims read-only",
        ),
        (
            f"has(object.spec.template.metadata.labels) && "
            f"{label_map}.all(k, k in object.spec.template.metadata.labels && "
            f"object.spec.template.metadata.labels[k] == {label_map}[k]) && "
            f"object.spec.template.metadata.labels.all(k, k in {allowed_keys})",
            "the pod labels must be exactly the retraining CronJob's (NetworkPolicies select on them)",
        ),
        (
            f"!has({POD}.hostNetwork) || {POD}.hostNetwork == false",
            "the Job must not use the host network",
        ),
    ]
    return [{"expression": expression, "message": message} for expression, message in rules]


def _expected(template: k8s.core.v1.PodTemplateSpecArgs) -> Output[dict[str, Any]]:
    """The values the CronJob's template is built from, resolved."""
    # Plain Args objects as TrainingJobs builds them (Inputs typed as unions of Awaitables and Outputs).
    pod: Any = template
    spec = pod.spec
    container = spec.containers[0]
    env_parts: list[Output[dict[str, Any]]] = []
    for var in container.env or []:
        if var.value_from is not None and var.value_from.secret_key_ref is not None:
            ref = var.value_from.secret_key_ref
            env_parts.append(
                Output.all(var.name, ref.name, ref.key).apply(
                    lambda p: {"name": p[0], "secret": [str(p[1]), str(p[2])]}
                )
            )
        else:
            env_parts.append(Output.all(var.name, var.value).apply(lambda p: {"name": p[0], "value": p[1]}))
    return Output.all(
        image=container.image,
        account=spec.service_account_name,
        labels=pod.metadata.labels,
        env=Output.all(*env_parts),
        volumes=Output.all(*[_volume_claim(v) for v in spec.volumes or []]).apply(dict),
    )


def _volume_claim(volume: Any) -> Output[tuple[str, str]]:
    """(volume name, claim name), the claim "" for a scratch emptyDir."""
    claim = volume.persistent_volume_claim.claim_name if volume.persistent_volume_claim is not None else ""
    return Output.all(volume.name, claim).apply(lambda p: (str(p[0]), str(p[1])))


def _namespace_owner(namespace: str, uid: str | None) -> list[k8s.meta.v1.OwnerReferenceArgs] | None:
    """The ownerReferences of an object that must not outlive the namespace it was made for."""
    if not uid:
        return None
    return [k8s.meta.v1.OwnerReferenceArgs(api_version="v1", kind="Namespace", name=namespace, uid=uid)]


class RetrainAdmission(pulumi.ComponentResource):
    """ValidatingAdmissionPolicy + binding: the trigger's Jobs must be clones of the CronJob's template."""

    policy_name: Output[str]

    def __init__(self, name: str, args: RetrainAdmissionArgs, opts: ResourceOptions | None = None) -> None:
        super().__init__("mlops:index:RetrainAdmission", name, None, opts)
        meta = labels(args.stack, "retrain-trigger", "retraining")
        policy_name = f"mlops-retrain-clones-{args.namespace}"
        trigger_user = f"system:serviceaccount:{args.namespace}:{args.trigger_service_account}"
        validations: Input[list[Any]] = _expected(args.pod_template).apply(clone_validations)
        uid = Output.from_input(args.namespace_uid)
        owners: Output[Any] = uid.apply(lambda u: _namespace_owner(args.namespace, u))
        policy = k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
            f"{name}-policy",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=policy_name, labels=meta, owner_references=owners),
            spec=k8s.admissionregistration.v1.ValidatingAdmissionPolicySpecArgs(
                failure_policy="Fail",
                match_constraints=k8s.admissionregistration.v1.MatchResourcesArgs(
                    resource_rules=[
                        k8s.admissionregistration.v1.NamedRuleWithOperationsArgs(
                            api_groups=["batch"],
                            api_versions=["*"],
                            operations=["CREATE", "UPDATE"],
                            resources=["jobs"],
                        )
                    ]
                ),
                # Only the trigger's requests: the CronJob controller and Pulumi create Jobs too.
                match_conditions=[
                    k8s.admissionregistration.v1.MatchConditionArgs(
                        name="from-the-retrain-trigger",
                        expression=f"request.userInfo.username == {_lit(trigger_user)}",
                    )
                ],
                validations=validations,
            ),
            opts=ResourceOptions(parent=self),
        )
        k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
            f"{name}-binding",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=policy_name, labels=meta, owner_references=owners),
            spec=k8s.admissionregistration.v1.ValidatingAdmissionPolicyBindingSpecArgs(
                policy_name=policy_name,
                validation_actions=["Deny"],
                match_resources=k8s.admissionregistration.v1.MatchResourcesArgs(
                    namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                        match_labels={"kubernetes.io/metadata.name": args.namespace}
                    )
                ),
            ),
            opts=ResourceOptions(parent=self, depends_on=[policy]),
        )
        self.policy_name = Output.all(policy.id, policy_name).apply(lambda parts: str(parts[1]))
        self.register_outputs({"policy_name": self.policy_name})
