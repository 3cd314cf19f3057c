"""The rendered manifests run the real code: PostgreSQL, the MLflow server, the bootstrap training Job and the
serving Deployment are started as local processes with exactly the entrypoints, args, env and secret keys the
manifests give them. Only Service host names (-> 127.0.0.1 ports), mount paths (-> temp dirs) and the serving
bind address are mapped. A variable or key renamed on one side only fails here.

The manifests come from the real program run under Pulumi's mocks (the engine cannot run here).
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from mlflow import MlflowClient
from sklearn.datasets import load_breast_cancer

from mlops_contract.names import CHAMPION_ALIAS, SERVING_METRICS_PORT, Env
from tests.infra.conftest import config_for, find, pod_spec
from tests.integration.pod_runtime import entrypoint
from tests.integration.postgres_support import postgres_bin
from tests.integration.stack_processes import (
    rendered_stack,
    served_model,
    stack_mlflow,
    stack_postgres,
    stack_serving,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]


@pytest.mark.skipif(postgres_bin() is None, reason="PostgreSQL not installed (scripts/setup.sh system)")
def test_rendered_pods_run_the_real_training_and_serving_code(tmp_path: Path) -> None:
    stack = rendered_stack(config_for("kind"), tmp_path)
    # PostgreSQL, then MLflow (init container, server) and the mlflow-identities Job, all from the manifests.
    with stack_postgres(stack), stack_mlflow(stack):
        # The bootstrap Job: the training image's entrypoint with the Job's env (training's own MLflow user).
        job = stack.container("Job", "training-bootstrap")
        job_env = stack.env(job)
        assert job_env[Env.TRACKING_USERNAME] == stack.secrets[("mlflow-training-credentials", "username")]
        started = time.monotonic()
        result = stack.run(
            entrypoint("training/Dockerfile") + stack.pod.args(job, job_env), job_env, timeout=300
        )
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        print(f"bootstrap training via rendered Job env: {time.monotonic() - started:.1f}s")
        client = MlflowClient(tracking_uri=job_env[Env.TRACKING_URI])
        assert _champion(client, job_env) == "1"
        unauthenticated = httpx.get(f"{stack.mlflow_url}/api/2.0/mlflow/registered-models/search", timeout=10)
        assert unauthenticated.status_code == 401
        # Prometheus scrapes MLflow's /metrics as its own user (no permissions), from the rendered Secret.
        metrics_url = f"{stack.mlflow_url}/metrics"
        assert httpx.get(metrics_url, timeout=10).status_code == 401
        scrape_login = (
            stack.secrets[("mlflow-prometheus-credentials", "username")],
            stack.secrets[("mlflow-prometheus-credentials", "password")],
        )
        scraped = httpx.get(metrics_url, auth=scrape_login, timeout=10)
        assert scraped.status_code == 200 and "mlflow_http_request_total" in scraped.text
        # ... and nothing else: the server's fail-open flag opens /metrics, not the registry.
        alias = httpx.get(
            f"{stack.mlflow_url}/api/2.0/mlflow/registered-models/alias",
            params={"name": job_env[Env.MODEL_NAME], "alias": CHAMPION_ALIAS},
            auth=scrape_login,
            timeout=10,
        )
        assert alias.status_code == 403

        # Serving: the Deployment's env (serving's own READ user), probes and port.
        serving_pod = find(stack.manifests, "Deployment", "serving")
        container = pod_spec(serving_pod)["containers"][0]
        with stack_serving(stack) as base:
            assert httpx.get(base + container["livenessProbe"]["httpGet"]["path"]).status_code == 200
            body = served_model(base, load_breast_cancer().data[:3].tolist())
            assert body["model_version"] == "1"
            assert len(body["predictions"]) == 3
            annotations = serving_pod["spec"]["template"]["metadata"]["annotations"]
            assert annotations["prometheus.io/port"] == str(SERVING_METRICS_PORT)
            metrics_url = f"http://127.0.0.1:{stack.serving_metrics_port}{annotations['prometheus.io/path']}"
            metrics = httpx.get(metrics_url, timeout=10).text
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
