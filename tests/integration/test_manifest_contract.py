"""The rendered manifests run the real code: PostgreSQL, the MLflow server, the bootstrap training Job and the
serving Deployment are started as local processes with exactly the entrypoints, args, env and secret keys the
manifests give them. Only Service host names (-> 127.0.0.1 ports), mount paths (-> temp dirs) and the serving
bind address are mapped. A variable or key renamed on one side only fails here.

The manifests come from the real program run under Pulumi's mocks (the engine cannot run here).
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx
import pytest
from mlflow import MlflowClient
from sklearn.datasets import load_breast_cancer

from devloop.process import ManagedProcess
from infra.render import render
from mlops_contract.names import CHAMPION_ALIAS, Env
from tests.conftest import free_port
from tests.infra.conftest import config_for, find, pod_spec
from tests.integration.pod_runtime import LocalPod, entrypoint, postgres_password, process_env, secrets_of
from tests.integration.postgres_support import postgres_bin, postgres_server

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]


def _bind_locally(argv: list[str], port: int) -> list[str]:
    """The pod listens on all interfaces on its own IP; here only loopback on a free port is allowed."""
    out = []
    for arg in argv:
        if arg.startswith("--host="):
            arg = "--host=127.0.0.1"
        elif arg.startswith("--port="):
            arg = f"--port={port}"
        out.append(arg)
    return out


@pytest.mark.skipif(postgres_bin() is None, reason="PostgreSQL not installed (scripts/setup.sh system)")
def test_rendered_pods_run_the_real_training_and_serving_code(tmp_path: Path) -> None:
    cfg = config_for("kind")
    manifests = render(cfg)
    secrets = secrets_of(manifests)
    ns = cfg.namespace
    mlflow_port, pg_port, serving_port = free_port(), free_port(), free_port()
    hosts = {}
    for service, local in (("mlflow", mlflow_port), ("mlflow-postgres", pg_port), ("serving", serving_port)):
        port = find(manifests, "Service", service)["spec"]["ports"][0]["port"]
        for name in (f"{service}.{ns}.svc.cluster.local", f"{service}.{ns}.svc", f"{service}.{ns}", service):
            hosts[f"{name}:{port}"] = f"127.0.0.1:{local}"

    # PostgreSQL as the StatefulSet configures the official image (user, database, password from the Secret).
    pg_pod = pod_spec(find(manifests, "StatefulSet", "mlflow-postgres"))
    pg_container = pg_pod["containers"][0]
    pg_env = LocalPod(hosts, {}).env(pg_container, secrets)
    password = postgres_password(pg_pod, pg_container, pg_env, secrets)
    with postgres_server(pg_port, pg_env["POSTGRES_USER"], password, pg_env["POSTGRES_DB"]):
        # MLflow: init container, then the server, with ConfigMap files and the PVC mapped to directories.
        mlflow_pod = pod_spec(find(manifests, "Deployment", "mlflow"))
        mounts = {"/data": tmp_path / "pvc", "/etc/mlflow-auth": tmp_path / "auth", "/tmp": tmp_path / "tmp"}
        for path in mounts.values():
            path.mkdir()
        pod = LocalPod(hosts, mounts)
        config_map = find(manifests, "ConfigMap", "mlflow-auth-config")
        for filename, content in config_map["data"].items():
            (tmp_path / "auth" / filename).write_text(pod.rewrite(content))
        init = mlflow_pod["initContainers"][0]
        init_env = pod.env(init, secrets)
        subprocess.run(pod.args(init, init_env), check=True, env=process_env(init_env, tmp_path / "tmp"))
        server = mlflow_pod["containers"][0]
        server_env = pod.env(server, secrets)
        argv = entrypoint("services/mlflow/Dockerfile") + _bind_locally(
            pod.args(server, server_env), mlflow_port
        )
        health = server["readinessProbe"]["httpGet"]["path"]
        with ManagedProcess(
            "mlflow",
            argv,
            f"http://127.0.0.1:{mlflow_port}{health}",
            tmp_path / "mlflow.log",
            env=process_env(server_env, tmp_path / "tmp"),
        ).start() as mlflow_proc:
            mlflow_proc.wait_ready(timeout=180)

            # The bootstrap Job: the training image's entrypoint with the Job's env.
            job = pod_spec(find(manifests, "Job", "training-bootstrap"))["containers"][0]
            job_env = pod.env(job, secrets)
            started = time.monotonic()
            result = subprocess.run(
                entrypoint("training/Dockerfile") + pod.args(job, job_env),
                env=process_env(job_env, tmp_path / "tmp"),
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
            print(f"bootstrap training via rendered Job env: {time.monotonic() - started:.1f}s")
            client = MlflowClient(
                tracking_uri=job_env[Env.TRACKING_URI],
            )
            # Basic auth is on: the client authenticates with the Secret's admin credentials (from env).
            assert job_env[Env.TRACKING_USERNAME] == secrets[("mlflow-credentials", "admin-username")]
            champion = _champion(client, job_env)
            assert champion == "1"
            unauthenticated = httpx.get(
                f"http://127.0.0.1:{mlflow_port}/api/2.0/mlflow/registered-models/search", timeout=10
            )
            assert unauthenticated.status_code == 401
            # Prometheus scrapes MLflow's /metrics with the admin password file from the Secret.
            metrics_url = f"http://127.0.0.1:{mlflow_port}/metrics"
            assert httpx.get(metrics_url, timeout=10).status_code == 401
            scraped = httpx.get(
                metrics_url,
                auth=(
                    secrets[("mlflow-credentials", "admin-username")],
                    secrets[("mlflow-credentials", "admin-password")],
                ),
                timeout=10,
            )
            assert scraped.status_code == 200 and "mlflow_http_request_total" in scraped.text

            # Serving: the Deployment's env, probes and port.
            serving_pod = find(manifests, "Deployment", "serving")
            container = pod_spec(serving_pod)["containers"][0]
            serving_env = pod.env(container, secrets)
            serving_env[Env.SERVING_HOST] = "127.0.0.1"
            serving_env[Env.SERVING_PORT] = str(serving_port)
            serving_env[Env.SERVING_METRICS_PORT] = str(free_port())
            base = f"http://127.0.0.1:{serving_port}"
            with ManagedProcess(
                "serving",
                entrypoint("services/serving/Dockerfile") + pod.args(container, serving_env),
                base + container["readinessProbe"]["httpGet"]["path"],
                tmp_path / "serving.log",
                env=process_env(serving_env, tmp_path / "tmp"),
            ).start() as serving:
                serving.wait_ready(timeout=120)
                assert httpx.get(base + container["livenessProbe"]["httpGet"]["path"]).status_code == 200
                rows = load_breast_cancer().data[:3].tolist()
                response = httpx.post(base + "/v1/predict", json={"rows": rows}, timeout=10)
                assert response.status_code == 200, response.text
                body = response.json()
                assert body["model_version"] == "1"
                assert len(body["predictions"]) == 3
                annotations = serving_pod["spec"]["template"]["metadata"]["annotations"]
                metrics = httpx.get(base + annotations["prometheus.io/path"]).text
                assert "mlops_model_loaded 1.0" in metrics


def _champion(client: MlflowClient, env: dict[str, str]) -> str:
    import os

    saved = {k: os.environ.get(k) for k in (Env.TRACKING_USERNAME, Env.TRACKING_PASSWORD)}
    os.environ[Env.TRACKING_USERNAME] = env[Env.TRACKING_USERNAME]
    os.environ[Env.TRACKING_PASSWORD] = env[Env.TRACKING_PASSWORD]
    try:
        return str(client.get_model_version_by_alias(env[Env.MODEL_NAME], CHAMPION_ALIAS).version)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
