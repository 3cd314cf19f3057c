"""The real-engine tier: the Pulumi CLI and its kubernetes provider against a real kube-apiserver.

One simulated cluster (kwok) per session; each test module deploys its own stack into its own namespace.
The tools come from `make engine-tools`: missing tools fail the run in CI (never a silent skip) and skip it
elsewhere with the command that builds them.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from engine.cluster import STORAGE_CLASS, KwokCluster, api_client, create_cluster, delete_cluster
from engine.provisioner import Provisioner
from engine.pulumi_env import PulumiEnv, default_home, register_plugins
from engine.tools import Toolbox, ToolsError, find_tools
from infra.config import PROJECT
from infra.program import program
from infra.schema import REPO_ROOT
from stacks.backend import Backend
from stacks.workspace import AutomationWorkspace

pytestmark = pytest.mark.engine

DIGEST = "sha256:" + "0" * 63
"""Images are never pulled here (no kubelet): any well-formed digest names them."""


def prebuilt_image(name: str, version: int = 1) -> str:
    """A reference by digest, as CI would push it; `version` gives a different digest."""
    return f"registry.example.com/mlops/{name}@{DIGEST}{version}"


@pytest.fixture(scope="session")
def toolbox() -> Toolbox:
    """The Go-built tools; fail in CI, skip elsewhere, if they are not built."""
    try:
        return find_tools()
    except ToolsError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"the engine tier cannot run: {exc}")
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def kwok(toolbox: Toolbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KwokCluster]:
    """A running control plane with one simulated node, deleted after the session."""
    cluster = create_cluster(toolbox, f"mlops-{uuid.uuid4().hex[:6]}", tmp_path_factory.mktemp("kwok"))
    provisioner = Provisioner(client.CoreV1Api(api_client(cluster)), STORAGE_CLASS).start()
    try:
        yield cluster
    finally:
        provisioner.stop()
        delete_cluster(toolbox, cluster)
    assert provisioner.errors == [], provisioner.errors[:3]


@pytest.fixture(scope="session")
def pulumi_env(toolbox: Toolbox, tmp_path_factory: pytest.TempPathFactory) -> PulumiEnv:
    """The CLI's environment: the tier's PULUMI_HOME with the plugins, a fresh file backend."""
    home = default_home()
    register_plugins(toolbox, home)
    return PulumiEnv(
        toolbox=toolbox,
        home=home,
        backend_dir=tmp_path_factory.mktemp("pulumi-state"),
        passphrase=secrets.token_urlsafe(16),
    )


@pytest.fixture(scope="session")
def project_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A work dir holding the repo's Pulumi.yaml, so the tests' stack files never land in the repo."""
    work = tmp_path_factory.mktemp("project")
    (work / "Pulumi.yaml").write_text((REPO_ROOT / "Pulumi.yaml").read_text())
    # The CLI checks that `main: infra/` exists even when the program runs inline.
    (work / "infra").mkdir()
    return work


def full(config: Mapping[str, str]) -> dict[str, str]:
    """Short keys -> fully qualified ones."""
    return {f"{PROJECT}:{k}": v for k, v in config.items()}


@dataclass
class EngineStack:
    """One stack of the platform driven through the real CLI."""

    name: str
    workspace: AutomationWorkspace
    cluster: KwokCluster
    namespace: str
    config: dict[str, str]
    log: list[str]
    renders: dict[tuple[tuple[str, str], ...], list[dict[str, Any]]] = field(default_factory=dict)

    def echo(self, line: str) -> None:
        """Keep the engine's output (pytest shows it for a failing test)."""
        self.log.append(line)
        print(line, end="" if line.endswith("\n") else "\n")

    def set(self, **config: str) -> None:
        """Set plain config keys (short names)."""
        self.config.update(config)
        self.workspace.set_config(self.name, full(config))

    def up(self) -> dict[str, int]:
        """`pulumi up`; the operations by kind."""
        return self.workspace.up(self.name, self.echo)

    def preview(self, expect_no_changes: bool = False) -> dict[str, int]:
        """`pulumi preview`; the planned operations by kind."""
        return self.workspace.preview(self.name, self.echo, expect_no_changes=expect_no_changes)

    def destroy(self) -> None:
        """`pulumi destroy`."""
        self.workspace.destroy(self.name, self.echo, {})

    def outputs(self) -> dict[str, object]:
        """Stack outputs."""
        return self.workspace.outputs(self.name)

    def rendered(self) -> list[dict[str, Any]]:
        """`python -m infra.render` of this stack's config (the objects it should hold), once per config."""
        key = tuple(sorted(self.config.items()))
        if key not in self.renders:
            self.renders[key] = self._render()
        return self.renders[key]

    def _render(self) -> list[dict[str, Any]]:
        args = [sys.executable, "-m", "infra.render", "--stack", self.name]
        for key, value in self.config.items():
            args += ["--set", f"{key}={value}"]
        out = subprocess.run(args, cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout
        return [doc for doc in yaml.safe_load_all(out) if doc]

    def api(self) -> Any:
        """A kubernetes ApiClient for the stack's cluster."""
        return api_client(self.cluster)


def base_config(cluster: KwokCluster, namespace: str) -> dict[str, str]:
    """The dev stack's shape in existing mode: prebuilt images, ClusterIP Services, nothing protected."""
    return {
        "clusterMode": "existing",
        "kubeconfig": str(cluster.kubeconfig),
        "kubeContext": cluster.context,
        "namespace": namespace,
        "protectVolumes": "false",
        "servingImage": prebuilt_image("mlops-serving"),
        "trainingImage": prebuilt_image("mlops-training"),
        "mlflowImage": prebuilt_image("mlops-mlflow"),
        "retrainTriggerImage": prebuilt_image("mlops-retrain-trigger"),
    }


def credentials() -> dict[str, str]:
    """The generated passwords, supplied as config (pulumi-random's provider is not served here)."""
    return {
        "postgresPassword": secrets.token_urlsafe(24),
        "mlflowAdminPassword": secrets.token_urlsafe(24),
        "mlflowFlaskSecretKey": secrets.token_urlsafe(32),
        "grafanaAdminPassword": secrets.token_urlsafe(24),
        "grafanaSecretKey": secrets.token_urlsafe(32),
        "mlflowServingPassword": secrets.token_urlsafe(24),
        "mlflowTrainingPassword": secrets.token_urlsafe(24),
        "mlflowPrometheusPassword": secrets.token_urlsafe(24),
        "retrainTriggerToken": secrets.token_urlsafe(24),
    }


def new_stack(
    env: PulumiEnv, project_dir: Path, cluster: KwokCluster, prefix: str, **overrides: str
) -> EngineStack:
    """Create a stack with its own namespace, the base config and credentials."""
    suffix = uuid.uuid4().hex[:6]
    name, namespace = f"{prefix}-{suffix}", f"{prefix}-{suffix}"
    backend = Backend(url=f"file://{env.backend_dir}", passphrase=env.passphrase)
    workspace = AutomationWorkspace(
        backend, work_dir=project_dir, program=program, cli_root=env.cli_root, env=env.env()
    )
    stack = EngineStack(name, workspace, cluster, namespace, {}, [])
    workspace.select_or_create(name)
    stack.set(**{**base_config(cluster, namespace), **overrides})
    workspace.set_secret_config(name, full(credentials()))
    return stack


@pytest.fixture(scope="session")
def stack_factory(pulumi_env: PulumiEnv, project_dir: Path, kwok: KwokCluster) -> Iterator[Any]:
    """Makes stacks; destroys what a test left up at the end of the session."""
    made: list[EngineStack] = []

    def make(prefix: str, **overrides: str) -> EngineStack:
        stack = new_stack(pulumi_env, project_dir, kwok, prefix, **overrides)
        made.append(stack)
        return stack

    yield make
    for stack in made:
        try:
            stack.destroy()
            stack.workspace.remove(stack.name)
        except Exception as exc:
            print(f"teardown of {stack.name}: {exc}")
