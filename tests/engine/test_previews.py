"""`python -m previews create / list / destroy / gc` through the real Automation API, CLI and API server.

The tool runs as a user runs it (a subprocess), inline (MLOPS_PULUMI_INLINE=1: no language host here), with
prebuilt images and credentials passed the way CI would: `--set` and `--secret KEY=VAR`, and passphrases as
the preview workflow passes them: `create` gets its stack's own passphrase, `list`, `destroy` and `gc` the key
every stack's passphrase is derived from.
"""

from __future__ import annotations

import os
import secrets as random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from engine.cluster import KwokCluster, api_client
from engine.pulumi_env import PulumiEnv
from infra.schema import REPO_ROOT
from previews.access import RUNNER_CONTEXT, RUNNER_NAME, RUNNER_NAMESPACE
from stacks.backend import Backend, stack_passphrase
from stacks.leftovers import find_leftovers
from stacks.workspace import AutomationWorkspace, WorkspaceError
from tests.engine.conftest import credentials, full, prebuilt_image

pytestmark = pytest.mark.engine

IMAGE_KEYS = {
    "servingImage": "mlops-serving",
    "trainingImage": "mlops-training",
    "mlflowImage": "mlops-mlflow",
    "retrainTriggerImage": "mlops-retrain-trigger",
}


# The key the workflow's environments hold (PREVIEW_PASSPHRASE_KEY); one per test session.
KEY = random.token_urlsafe(32)


def _passphrases(args: tuple[str, ...], stack: str | None) -> dict[str, str]:
    """As the workflow passes them: `create` its stack's passphrase only, every other command the key."""
    if args[0] == "create":
        assert stack is not None
        return {"PULUMI_CONFIG_PASSPHRASE": stack_passphrase(KEY, stack)}
    return {"MLOPS_PREVIEW_PASSPHRASE_KEY": KEY}


def _previews(
    env: PulumiEnv,
    cluster: KwokCluster,
    *args: str,
    stack: str | None = None,
    kubeconfig: Path | None = None,
    context: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """`python -m previews ARGS`, as the cluster's admin unless given another kubeconfig and context."""
    kubeconfig = kubeconfig or cluster.kubeconfig
    secrets = {f"PREVIEW_{k.upper()}": v for k, v in credentials().items()}
    environ = {
        **os.environ,
        **env.env(),
        **secrets,
        "KUBECONFIG": str(kubeconfig),
        "MLOPS_PULUMI_INLINE": "1",
    }
    environ.pop("PULUMI_CONFIG_PASSPHRASE")  # the tier's own, for its other stacks
    if args[0] != "bootstrap":
        environ.update(_passphrases(args, stack))
    argv = [sys.executable, "-m", "previews", *args]
    if args[0] == "create":
        argv += ["--context", context or cluster.context, "--set", f"kubeconfig={kubeconfig}"]
        argv += [f"--set={key}={prebuilt_image(image)}" for key, image in IMAGE_KEYS.items()]
        argv += [f"--secret={key}=PREVIEW_{key.upper()}" for key in credentials()]
    return subprocess.run(argv, cwd=REPO_ROOT, env=environ, capture_output=True, text=True, timeout=900)


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"{result.stdout[-4000:]}\n{result.stderr[-2000:]}"
    return result.stdout


def _nothing_of(cluster: KwokCluster, stack: str, namespace: str) -> None:
    core = client.CoreV1Api(api_client(cluster))
    assert find_leftovers(core, stack, namespace) == []
    assert not (REPO_ROOT / f"Pulumi.{stack}.yaml").exists()


def _stale_stack_file(env: PulumiEnv, stack: str, work: Path) -> None:
    """Leave Pulumi.<stack>.yaml in the repo as a killed run does: its salt is of another passphrase."""
    (work / "Pulumi.yaml").write_text((REPO_ROOT / "Pulumi.yaml").read_text())
    lost = Backend(url=f"file://{work / 'lost-state'}", passphrase=random.token_urlsafe(16))
    AutomationWorkspace(lost, work_dir=work, cli_root=env.cli_root, env=env.env()).select_or_create(stack)
    (REPO_ROOT / f"Pulumi.{stack}.yaml").write_text((work / f"Pulumi.{stack}.yaml").read_text())


def test_create_list_destroy_leaves_nothing(pulumi_env: PulumiEnv, kwok: KwokCluster, tmp_path: Path) -> None:
    stack, namespace = "preview-feature-engine-tier", "mlops-preview-feature-engine-tier"
    # What made this test fail: a stack file left behind by a killed run ("incorrect passphrase").
    _stale_stack_file(pulumi_env, stack, tmp_path)
    out = _ok(_previews(pulumi_env, kwok, "create", "feature/engine-tier", stack=stack))
    assert f"removed Pulumi.{stack}.yaml" in out
    assert f"ready: {stack}" in out
    core = client.CoreV1Api(api_client(kwok))
    labels = core.read_namespace(namespace).metadata.labels
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert stack in _ok(_previews(pulumi_env, kwok, "list"))
    out = _ok(_previews(pulumi_env, kwok, "destroy", "feature/engine-tier"))
    assert "nothing left in the cluster" in out
    _nothing_of(kwok, stack, namespace)


def test_gc_destroys_an_expired_preview(pulumi_env: PulumiEnv, kwok: KwokCluster) -> None:
    stack, namespace = "preview-pr-4242", "mlops-preview-pr-4242"
    started = time.monotonic()
    _ok(_previews(pulumi_env, kwok, "create", "4242", "--ttl", "1m", stack=stack))
    time.sleep(max(0.0, 62 - (time.monotonic() - started)))
    out = _ok(_previews(pulumi_env, kwok, "gc", "--context", kwok.context))
    assert f"destroyed {stack}" in out
    _nothing_of(kwok, stack, namespace)
    assert stack not in _ok(_previews(pulumi_env, kwok, "list"))


def test_each_preview_stack_has_its_own_passphrase(pulumi_env: PulumiEnv, tmp_path: Path) -> None:
    """Two stacks under one key: different passphrases, and A's cannot open B; the key opens both."""
    work = tmp_path / "project"
    (work / "infra").mkdir(parents=True)
    (work / "Pulumi.yaml").write_text((REPO_ROOT / "Pulumi.yaml").read_text())
    url = f"file://{tmp_path / 'state'}"

    def workspace(backend: Backend) -> AutomationWorkspace:
        return AutomationWorkspace(backend, work_dir=work, cli_root=pulumi_env.cli_root, env=pulumi_env.env())

    keyed = workspace(Backend(url=url, passphrase_key=KEY))
    values = {"preview-pr-1": random.token_urlsafe(16), "preview-pr-2": random.token_urlsafe(16)}
    for stack, value in values.items():
        keyed.select_or_create(stack)
        keyed.set_secret_config(stack, full({"postgresPassword": value}))
    a, b = (stack_passphrase(KEY, stack) for stack in values)
    assert a != b
    # The stack files hold only ciphertext, each under its own salt.
    salts = {(work / f"Pulumi.{s}.yaml").read_text().splitlines()[0] for s in values}
    assert len(salts) == 2
    assert not any(v in (work / f"Pulumi.{s}.yaml").read_text() for s in values for v in values.values())

    # B with A's passphrase: the CLI refuses it.
    with pytest.raises(WorkspaceError) as refused:
        workspace(Backend(url=url, passphrase=a)).set_secret_config(
            "preview-pr-2", full({"postgresPassword": "x"})
        )
    assert "incorrect passphrase" in f"{refused.value}\n{refused.value.details}"
    # Each with its own passphrase, and both with the key (list, as `gc` reads them).
    for stack, passphrase in (("preview-pr-1", a), ("preview-pr-2", b)):
        own = workspace(Backend(url=url, passphrase=passphrase)).list_stacks(stack)
        assert own[0].config[full({"postgresPassword": ""}).popitem()[0]] == values[stack]
    listed = {s.name: s.config for s in keyed.list_stacks("preview-")}
    assert {name: c["mlops-platform:postgresPassword"] for name, c in listed.items()} == values


def _refused(call: Callable[[], object]) -> str:
    """The API server's refusal of `call` (403: RBAC, or the guard policy's denial)."""
    with pytest.raises(ApiException) as refused:
        call()
    assert refused.value.status == 403, refused.value.body
    return str(refused.value.body)


def test_a_namespace_scoped_identity_creates_and_destroys_a_preview_and_nothing_else(
    pulumi_env: PulumiEnv, kwok: KwokCluster, tmp_path: Path
) -> None:
    """`bootstrap` as the admin; then create and destroy as the runner, whose other rights are probed."""
    kubeconfig = tmp_path / "runner" / "kubeconfig"
    out = _ok(
        _previews(
            pulumi_env, kwok, "bootstrap", "--context", kwok.context, "--kubeconfig-out", str(kubeconfig)
        )
    )
    assert "applied ValidatingAdmissionPolicyBinding/mlops-preview-guard" in out
    assert kubeconfig.stat().st_mode & 0o077 == 0  # a bearer token: owner only
    runner = config.new_client_from_config(config_file=str(kubeconfig), context=RUNNER_CONTEXT)  # type: ignore[no-untyped-call]
    core, rbac = client.CoreV1Api(runner), client.RbacAuthorizationV1Api(runner)
    admission = client.AdmissionregistrationV1Api(runner)
    me = client.RbacV1Subject(kind="ServiceAccount", name=RUNNER_NAME, namespace=RUNNER_NAMESPACE)

    def binding(name: str, role: str) -> client.V1RoleBinding:
        return client.V1RoleBinding(
            metadata=client.V1ObjectMeta(name=name),
            role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=role),
            subjects=[me],
        )

    # RBAC: no Secrets outside preview namespaces, no cluster-wide bindings, no say over admission policies.
    _refused(lambda: core.list_namespaced_secret("kube-system"))
    _refused(lambda: rbac.create_cluster_role_binding(client.V1ClusterRoleBinding(
        metadata=client.V1ObjectMeta(name="runner-is-admin"), subjects=[me],
        role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="cluster-admin"),
    )))  # fmt: skip
    _refused(lambda: admission.delete_validating_admission_policy("mlops-preview-guard"))
    # RBAC escalation checks: only the deployer role may be bound, and ...
    _refused(lambda: rbac.create_namespaced_role_binding("default", binding("x", "cluster-admin")))
    # ... the guard: only in preview namespaces, and only preview namespaces may be made.
    denied = _refused(
        lambda: rbac.create_namespaced_role_binding("default", binding("x", "mlops-preview-deployer"))
    )
    assert "bind roles only in namespaces named mlops-preview-" in denied
    ns = client.V1Namespace(metadata=client.V1ObjectMeta(name="not-a-preview"))
    assert "only namespaces named mlops-preview-" in _refused(lambda: core.create_namespace(ns))
    ns = client.V1Namespace(metadata=client.V1ObjectMeta(name="mlops-preview-without-pss"))
    assert "Pod Security 'restricted'" in _refused(lambda: core.create_namespace(ns))
    _refused(lambda: core.delete_namespace("kube-system"))

    stack, namespace = "preview-feature-least-privilege", "mlops-preview-feature-least-privilege"
    deployer = f"--set=deployerServiceAccount={RUNNER_NAMESPACE}/{RUNNER_NAME}"
    out = _ok(_previews(pulumi_env, kwok, "create", "feature/least-privilege", deployer, stack=stack,
                        kubeconfig=kubeconfig, context=RUNNER_CONTEXT))  # fmt: skip
    assert f"ready: {stack}" in out
    # Its own namespace's Secrets, yes; still no one else's.
    assert core.list_namespaced_secret(namespace).items
    _refused(lambda: core.list_namespaced_secret("default"))
    # The preview's retrain trigger may create no Job (it has no clone policy): the guard says so.
    trigger = api_client(kwok)
    trigger.set_default_header("Impersonate-User", f"system:serviceaccount:{namespace}:retrain-trigger")
    job = client.V1Job(
        metadata=client.V1ObjectMeta(name="forged"),
        spec=client.V1JobSpec(template=client.V1PodTemplateSpec(spec=client.V1PodSpec(
            restart_policy="Never", containers=[client.V1Container(name="x", image=prebuilt_image("x"))],
        ))),
    )  # fmt: skip
    denied = _refused(lambda: client.BatchV1Api(trigger).create_namespaced_job(namespace, job, dry_run="All"))
    assert "retrain trigger may not create Jobs" in denied

    out = _ok(_previews(pulumi_env, kwok, "destroy", "feature/least-privilege", kubeconfig=kubeconfig))
    assert "nothing left in the cluster" in out
    _nothing_of(kwok, stack, namespace)
