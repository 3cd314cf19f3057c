"""The rendered stack's PostgreSQL, MLflow server and serving Deployment as local processes, for day-2 tests.

As in test_manifest_contract: entrypoints, args, env and secret keys come from the rendered manifests; only
Service host names (-> 127.0.0.1 ports) and mount paths (-> directories under the test's tmp) are mapped.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from devloop.process import ManagedProcess
from infra.config import StackConfig
from infra.render import render
from tests.conftest import free_port
from tests.infra.conftest import find, pod_spec
from tests.integration.pod_runtime import (
    LocalPod,
    entrypoint,
    materialize_volumes,
    postgres_password,
    process_env,
    secrets_of,
)
from tests.integration.postgres_support import Postgres, postgres_server


@dataclass
class RenderedStack:
    """The manifests of one stack config mapped onto this machine."""

    cfg: StackConfig
    manifests: list[dict[str, Any]]
    secrets: dict[tuple[str, str], str]
    pod: LocalPod
    root: Path
    pg_port: int
    mlflow_port: int
    serving_port: int
    serving_metrics_port: int
    """Serving's metrics listener (the pod's 9100)."""

    @property
    def mlflow_url(self) -> str:
        return f"http://127.0.0.1:{self.mlflow_port}"

    @property
    def admin(self) -> tuple[str, str]:
        """MLflow basic-auth admin login, from the rendered Secret."""
        return (
            self.secrets[("mlflow-credentials", "admin-username")],
            self.secrets[("mlflow-credentials", "admin-password")],
        )

    def container(self, kind: str, name: str, index: int = 0) -> dict[str, Any]:
        """A container of a rendered pod-owning object."""
        container: dict[str, Any] = pod_spec(find(self.manifests, kind, name))["containers"][index]
        return container

    def env(self, container: dict[str, Any]) -> dict[str, str]:
        """The container's env as the kubelet would give it, mapped."""
        return self.pod.env(container, self.secrets)

    def run(
        self, argv: list[str], env: dict[str, str], timeout: float = 900
    ) -> subprocess.CompletedProcess[str]:
        """Run one container command to completion (a Job's pod)."""
        return subprocess.run(
            argv,
            env=process_env(env, self.root / "tmp"),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def rendered_stack(cfg: StackConfig, root: Path) -> RenderedStack:
    """Render `cfg` and map its Services and volumes under `root` (pvc = MLflow's /data, backup = /backup)."""
    manifests = render(cfg)
    ns = cfg.namespace
    ports = {"mlflow": free_port(), "mlflow-postgres": free_port(), "serving": free_port()}
    hosts = {}
    for service, local in ports.items():
        port = find(manifests, "Service", service)["spec"]["ports"][0]["port"]
        for name in (f"{service}.{ns}.svc.cluster.local", f"{service}.{ns}.svc", f"{service}.{ns}", service):
            hosts[f"{name}:{port}"] = f"127.0.0.1:{local}"
    mounts = {
        "/data": root / "pvc",
        "/artifacts": root / "pvc",  # the backup pod mounts the same artifact claim here
        "/backup": root / "backup",
        "/etc/mlflow-auth": root / "auth",
        "/tmp": root / "tmp",
    }
    for path in mounts.values():
        path.mkdir(parents=True, exist_ok=True)
    return RenderedStack(
        cfg=cfg,
        manifests=manifests,
        secrets=secrets_of(manifests),
        pod=LocalPod(hosts, mounts),
        root=root,
        pg_port=ports["mlflow-postgres"],
        mlflow_port=ports["mlflow"],
        serving_port=ports["serving"],
        serving_metrics_port=free_port(),
    )


@contextmanager
def stack_postgres(stack: RenderedStack) -> Iterator[Postgres]:
    """PostgreSQL as the StatefulSet configures the official image (user, database, password)."""
    pg_container = stack.container("StatefulSet", "mlflow-postgres")
    pg_env = stack.env(pg_container)
    pg_pod = pod_spec(find(stack.manifests, "StatefulSet", "mlflow-postgres"))
    password = postgres_password(pg_pod, pg_container, pg_env, stack.secrets)
    with postgres_server(stack.pg_port, pg_env["POSTGRES_USER"], password, pg_env["POSTGRES_DB"]) as pg:
        yield pg


def _bind_locally(argv: list[str], port: int) -> list[str]:
    out = []
    for arg in argv:
        if arg.startswith("--host="):
            arg = "--host=127.0.0.1"
        elif arg.startswith("--port="):
            arg = f"--port={port}"
        out.append(arg)
    return out


@contextmanager
def stack_mlflow(stack: RenderedStack, log_name: str = "mlflow.log") -> Iterator[ManagedProcess]:
    """The MLflow Deployment: its init container, then the server (basic auth, proxied artifacts); yields the
    server's process."""
    mlflow_pod = pod_spec(find(stack.manifests, "Deployment", "mlflow"))
    config_map = find(stack.manifests, "ConfigMap", "mlflow-auth-config")
    for filename, content in config_map["data"].items():
        (stack.root / "auth" / filename).write_text(stack.pod.rewrite(content))
    init = mlflow_pod["initContainers"][0]
    init_env = stack.env(init)
    subprocess.run(stack.pod.args(init, init_env), check=True, env=process_env(init_env, stack.root / "tmp"))
    server = mlflow_pod["containers"][0]
    server_env = stack.env(server)
    argv = entrypoint("services/mlflow/Dockerfile") + _bind_locally(
        stack.pod.args(server, server_env), stack.mlflow_port
    )
    health = server["readinessProbe"]["httpGet"]["path"]
    with ManagedProcess(
        "mlflow",
        argv,
        f"{stack.mlflow_url}{health}",
        stack.root / log_name,
        env=process_env(server_env, stack.root / "tmp"),
    ).start() as proc:
        proc.wait_ready(timeout=600)
        run_identities_job(stack)
        yield proc


def run_identities_job(stack: RenderedStack) -> None:
    """The mlflow-identities Job (Pulumi awaits it before any workload talks to MLflow): its script and password
    files materialized from the rendered ConfigMap and Secrets, run to completion. Idempotent, so every MLflow
    start runs it, as a restored database needs."""
    job = pod_spec(find(stack.manifests, "Job", "mlflow-identities"))
    container = job["containers"][0]
    volumes = materialize_volumes(job, container, stack.manifests, stack.secrets, stack.root / "identities")
    pod = LocalPod(stack.pod.hosts, {**stack.pod.mounts, **volumes})
    env = pod.env(container, stack.secrets)
    argv = pod.args(container, env)
    argv[0] = sys.executable if argv[0] == "python" else argv[0]
    result = stack.run(argv, env, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


@contextmanager
def stack_serving(stack: RenderedStack) -> Iterator[str]:
    """The serving Deployment's container; yields its base URL once it is ready (model loaded)."""
    from mlops_contract.names import Env

    container = stack.container("Deployment", "serving")
    env = stack.env(container)
    env[Env.SERVING_HOST] = "127.0.0.1"
    env[Env.SERVING_PORT] = str(stack.serving_port)
    env[Env.SERVING_METRICS_PORT] = str(stack.serving_metrics_port)
    base = f"http://127.0.0.1:{stack.serving_port}"
    with ManagedProcess(
        "serving",
        entrypoint("services/serving/Dockerfile") + stack.pod.args(container, env),
        base + container["readinessProbe"]["httpGet"]["path"],
        stack.root / "serving.log",
        env=process_env(env, stack.root / "tmp"),
    ).start() as serving:
        serving.wait_ready(timeout=600)
        yield base


def served_model(base: str, rows: list[list[float]]) -> dict[str, Any]:
    """What serving answers for `rows` (the model version among it)."""
    response = httpx.post(base + "/v1/predict", json={"rows": rows}, timeout=10)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
