"""Security properties of the rendered stack (mocks): identities, no secret on a command line, secret files,
the admission policy for the trigger's Jobs, quota and limits. What the API server does with the policy is
proven by the engine tier (tests/engine/test_retrain_admission.py)."""

from __future__ import annotations

from typing import Any

from infra.components.namespace_limits import QUOTA_HARD
from mlops_contract.names import Env
from tests.infra.conftest import MockedStack, config_for, env_of, find, pod_spec


def _containers(manifests: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for manifest in manifests:
        if manifest["kind"] in {"Deployment", "StatefulSet", "Job", "CronJob"}:
            spec = pod_spec(manifest)
            for container in spec.get("initContainers", []) + spec["containers"]:
                found.append((manifest["metadata"]["name"], container))
    return found


def test_only_mlflow_the_identity_job_and_gc_see_the_admin_password(stack: MockedStack) -> None:
    holders = set()
    for manifest in stack.manifests():
        if manifest["kind"] not in {"Deployment", "StatefulSet", "Job", "CronJob"}:
            continue
        spec = pod_spec(manifest)
        refs = [
            e["valueFrom"]["secretKeyRef"]
            for c in spec["containers"]
            for e in c.get("env", [])
            if "secretKeyRef" in e.get("valueFrom", {})
        ]
        files = [
            (s["secret"]["name"], i["key"])
            for v in spec.get("volumes", [])
            for s in v.get("projected", {}).get("sources", [])
            for i in s["secret"]["items"]
        ] + [
            (v["secret"]["secretName"], i["key"])
            for v in spec.get("volumes", [])
            if "secret" in v
            for i in v["secret"]["items"]
        ]
        if any(r == {"name": "mlflow-credentials", "key": "admin-password"} for r in refs) or (
            ("mlflow-credentials", "admin-password") in files
        ):
            holders.add(manifest["metadata"]["name"])
    # mlflow-gc: `mlflow gc` deletes artifacts of any experiment through the server; it holds the database
    # password anyway (docs/security.md).
    assert holders == {"mlflow", "mlflow-identities", "mlflow-gc"}


def test_the_identity_job_grants_least_privilege(stack: MockedStack) -> None:
    import json

    job = find(stack.manifests(), "Job", "mlflow-identities")
    env = env_of(pod_spec(job)["containers"][0])
    spec = json.loads(env["MLOPS_IDENTITIES_SPEC"])
    grants = {u["name"]: (u["experiment"], u["model"]) for u in spec["users"]}
    assert grants == {"serving": ("READ", "READ"), "training": ("EDIT", "EDIT"), "prometheus": (None, None)}
    assert "MLFLOW_TRACKING_PASSWORD" not in env  # the admin password only as a file
    config = find(stack.manifests(), "ConfigMap", "mlflow-auth-config")["data"]["basic_auth.ini"]
    assert "default_permission = NO_PERMISSIONS" in config


# `mlflow db upgrade` and `mlflow gc` take the database URI only as an argument (no env var, unlike the
# server's --backend-store-uri): in these short-lived maintenance containers the expanded password is in argv
# (docs/security.md says so). Every long-running container keeps it off its command line.
ARGV_URI_EXEMPT = ("mlflow-db-upgrade-", "mlflow-gc")


def test_no_password_is_on_a_command_line(stack: MockedStack) -> None:
    for name, container in _containers(stack.manifests()):
        if name.startswith(ARGV_URI_EXEMPT):
            assert container["args"][-1].startswith(("--older-than=", "postgresql")), (
                name,
                container["args"],
            )
            continue
        for arg in container.get("command", []) + container.get("args", []):
            assert "PASSWORD" not in str(arg) and "postgresql" not in str(arg), (name, arg)
    mlflow = next(c for n, c in _containers(stack.manifests()) if n == "mlflow" and c["name"] == "mlflow")
    env = env_of(mlflow)
    # The kubelet expands $(POSTGRES_PASSWORD) only from a variable declared before this one.
    names = [e["name"] for e in mlflow["env"]]
    assert names.index("POSTGRES_PASSWORD") < names.index("MLFLOW_BACKEND_STORE_URI")
    assert "$(POSTGRES_PASSWORD)@" in env["MLFLOW_BACKEND_STORE_URI"]


def test_postgres_reads_its_password_from_a_file(stack: MockedStack) -> None:
    postgres = pod_spec(find(stack.manifests(), "StatefulSet", "mlflow-postgres"))
    env = env_of(postgres["containers"][0])
    assert "POSTGRES_PASSWORD" not in env
    path = env["POSTGRES_PASSWORD_FILE"]
    volume = next(v for v in postgres["volumes"] if "secret" in v)
    mount = next(m for m in postgres["containers"][0]["volumeMounts"] if m["name"] == volume["name"])
    assert path == f"{mount['mountPath']}/{volume['secret']['items'][0]['path']}"
    assert volume["secret"]["defaultMode"] == 0o440


def test_training_refuses_pickle_even_inside_mlflow(stack: MockedStack) -> None:
    for kind, name in (("Job", "training-bootstrap"), ("CronJob", "training-retrain")):
        env = env_of(pod_spec(find(stack.manifests(), kind, name))["containers"][0])
        assert env["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] == "false"


def test_the_trigger_s_jobs_are_bound_to_clones_of_the_cronjob(stack: MockedStack, mode: str) -> None:
    namespace = config_for(mode).namespace
    manifests = stack.manifests()
    policy = find(manifests, "ValidatingAdmissionPolicy", f"mlops-retrain-clones-{namespace}")
    binding = find(manifests, "ValidatingAdmissionPolicyBinding", f"mlops-retrain-clones-{namespace}")
    assert policy["spec"]["matchConditions"][0]["expression"] == (
        f'request.userInfo.username == "system:serviceaccount:{namespace}:retrain-trigger"'
    )
    assert binding["spec"]["validationActions"] == ["Deny"]
    assert binding["spec"]["matchResources"]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": namespace
    }
    template = pod_spec(find(manifests, "CronJob", "training-retrain"))
    expressions = " ".join(v["expression"] for v in policy["spec"]["validations"])
    # The literal expectations are the CronJob's own values.
    assert f'"{template["containers"][0]["image"]}"' in expressions
    assert f'serviceAccountName == "{template["serviceAccountName"]}"' in expressions
    for var in template["containers"][0]["env"]:
        assert f'e.name == "{var["name"]}"' in expressions


def test_the_namespace_has_a_quota_and_limits(stack: MockedStack, mode: str) -> None:
    manifests = stack.manifests()
    quota = find(manifests, "ResourceQuota", "mlops-quota")
    assert quota["spec"]["hard"] == QUOTA_HARD
    limits = find(manifests, "LimitRange", "mlops-limits")["spec"]["limits"][0]
    assert limits["type"] == "Container" and {"default", "defaultRequest", "max"} <= set(limits)
    # The stack's own requests fit the quota with room for a rollout (twice the total).
    total = stack.outputs["resourceRequestsTotal"]
    assert 2 * int(total["cpu"].removesuffix("m")) <= int(QUOTA_HARD["requests.cpu"]) * 1000
    assert (
        2 * int(total["memory"].removesuffix("Mi"))
        <= int(QUOTA_HARD["requests.memory"].removesuffix("Gi")) * 1024
    )


def test_the_trigger_token_is_a_secret_file_not_env(stack: MockedStack) -> None:
    trigger = pod_spec(find(stack.manifests(), "Deployment", "retrain-trigger"))
    env = env_of(trigger["containers"][0])
    assert Env.TRIGGER_TOKEN_FILE in env
    assert not any(isinstance(v, dict) for v in env.values())
