"""The real images, built from the project's Dockerfiles on a locally built base (no registry pulls here),
run with the security settings of the rendered pod specs: non-root uid, read-only root filesystem with the
same writable mounts (emptyDir -> tmpfs), all capabilities dropped, no new privileges, the memory limit.

The training container registers a model in a real MLflow server; the serving container becomes ready and
predicts. Image sizes are printed (target for serving: <= 450 MB).
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from mlflow import MlflowClient
from sklearn.datasets import load_breast_cancer

from infra.render import render
from mlops_contract.names import CHAMPION_ALIAS, Env, Route
from tests.conftest import free_port
from tests.infra.conftest import config_for, find, pod_spec
from tests.integration.docker_support import (
    REPO,
    build_base_image,
    build_image,
    ensure_docker_engine,
    image_size_mb,
    run_flags_from_pod,
)
from tests.integration.pod_runtime import secrets_of

pytestmark = [pytest.mark.integration, pytest.mark.docker, pytest.mark.timeout(900)]

SERVING_TAG = "mlops-serving:test"
TRAINING_TAG = "mlops-training:test"


@pytest.fixture(scope="module")
def images() -> dict[str, float]:
    """Docker engine up, base image built (cached), project images built; yields sizes in MB."""
    reason = ensure_docker_engine(REPO / ".state" / "dockerd.log")
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the image tests, but the Docker engine is not available: {reason}")
        pytest.skip(f"Docker engine not available: {reason}")
    build_base_image()
    sizes = {}
    for dockerfile, tag in (
        ("services/serving/Dockerfile", SERVING_TAG),
        ("training/Dockerfile", TRAINING_TAG),
    ):
        seconds = build_image(dockerfile, tag)
        sizes[tag] = image_size_mb(tag)
        print(f"built {tag} in {seconds:.0f}s: {sizes[tag]:.0f} MB")
    return sizes


def _docker_run(
    flags: list[str], image: str, name: str, detach: bool = False
) -> subprocess.CompletedProcess[str]:
    argv = [
        "docker",
        "run",
        "--name",
        name,
        "--network",
        "host",
        *(["-d"] if detach else ["--rm"]),
        *flags,
        image,
    ]
    return subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)


def _override(flags: list[str], env: dict[str, str]) -> list[str]:
    """Replace `-e NAME=...` values (in-cluster names -> this machine's loopback)."""
    out = list(flags)
    for i, flag in enumerate(out[:-1]):
        if flag == "-e":
            name = out[i + 1].split("=", 1)[0]
            if name in env:
                out[i + 1] = f"{name}={env.pop(name)}"
    for name, value in env.items():
        out += ["-e", f"{name}={value}"]
    return out


_FIND_SPECS = "import importlib.util as u; print([m for m in {modules!r} if u.find_spec(m)])"


def test_images_run_with_the_rendered_pod_security(
    images: dict[str, float], mlflow_server: str, model_name: str, tmp_path: Path
) -> None:
    manifests = render(config_for("kind"))
    secrets = secrets_of(manifests)

    # Training, as the bootstrap Job's pod runs it.
    job_pod = pod_spec(find(manifests, "Job", "training-bootstrap"))
    flags = run_flags_from_pod(job_pod, job_pod["containers"][0], secrets)
    assert "--read-only" in flags and "--user" in flags and "ALL" in flags
    flags = _override(flags, {Env.TRACKING_URI.value: mlflow_server, Env.MODEL_NAME.value: model_name})
    started = time.monotonic()
    result = _docker_run(flags, TRAINING_TAG, f"mlops-training-{model_name}")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    print(f"training container: {time.monotonic() - started:.1f}s")
    client = MlflowClient(tracking_uri=mlflow_server)
    version = client.get_model_version_by_alias(model_name, CHAMPION_ALIAS).version

    # Serving, as the Deployment's pod runs it.
    serving_pod = pod_spec(find(manifests, "Deployment", "serving"))
    container = serving_pod["containers"][0]
    port, metrics_port = free_port(), free_port()
    flags = _override(
        run_flags_from_pod(serving_pod, container, secrets),
        {
            Env.TRACKING_URI.value: mlflow_server,
            Env.MODEL_NAME.value: model_name,
            Env.SERVING_HOST.value: "127.0.0.1",
            Env.SERVING_PORT.value: str(port),
            Env.SERVING_METRICS_PORT.value: str(metrics_port),
        },
    )
    name = f"mlops-serving-{model_name}"
    run = _docker_run(flags, SERVING_TAG, name, detach=True)
    assert run.returncode == 0, run.stderr
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if (
                    httpx.get(base + container["readinessProbe"]["httpGet"]["path"], timeout=2).status_code
                    == 200
                ):
                    break
            except httpx.HTTPError:
                pass
            state = subprocess.run(
                ["docker", "inspect", "-f", "{{.State.Running}}", name],
                capture_output=True,
                text=True,
                check=False,
            ).stdout.strip()
            logs = subprocess.run(["docker", "logs", name], capture_output=True, text=True, check=False)
            assert state == "true", logs.stdout[-3000:] + logs.stderr[-3000:]
            assert time.monotonic() < deadline, "serving container not ready in 120 s"
            time.sleep(1)
        response = httpx.post(
            base + Route.PREDICT, json={"rows": load_breast_cancer().data[:2].tolist()}, timeout=10
        )
        assert response.status_code == 200, response.text
        assert response.json()["model_version"] == version
        # Metrics on their own listener only.
        assert httpx.get(base + Route.METRICS, timeout=5).status_code == 404
        scraped = httpx.get(f"http://127.0.0.1:{metrics_port}{Route.METRICS}", timeout=5)
        assert "mlops_model_loaded 1.0" in scraped.text
        # Read-only root: nothing outside the tmpfs mounts is writable.
        probe = subprocess.run(
            ["docker", "exec", name, "python", "-c", "open('/app/x', 'w')"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert probe.returncode != 0 and "Read-only file system" in probe.stderr
        user = subprocess.run(
            ["docker", "exec", name, "id", "-u"], capture_output=True, text=True, check=False
        )
        assert user.stdout.strip() == str(serving_pod["securityContext"]["runAsUser"])
        # Serving reads the registry over REST: neither the MLflow package nor pandas is in its image.
        installed = subprocess.run(
            ["docker", "exec", name, "python", "-c", _FIND_SPECS.format(modules=("mlflow", "pandas"))],
            capture_output=True,
            text=True,
            check=False,
        )
        assert installed.stdout.split() == ["[]"], installed.stdout + installed.stderr
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
    print(
        f"image sizes: serving {images[SERVING_TAG]:.0f} MB (target <= 450), training {images[TRAINING_TAG]:.0f} MB"
    )
