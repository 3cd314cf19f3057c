"""The identity bootstrap against a real `mlflow server --app-name basic-auth` with the platform's auth config.

What it proves: serving's identity reads the model but cannot move the champion alias, training's can (and
logs runs and versions), the scrape identity only authenticates, a rerun changes nothing, a changed password
file is rotated.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from devloop.mlflow_server import mlflow_executable
from devloop.process import ManagedProcess
from devloop.process_tree import command_line, process_tree
from mlops_contract.names import CHAMPION_ALIAS
from services.mlflow.auth_config import auth_config_ini
from services.mlflow.identities import main
from services.serving.registry import Connection, RegistryClient
from tests.conftest import free_port

# Generous: on a loaded shared machine the MLflow server alone took 280 s to start.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]
ADMIN_PASSWORD = "admin-password-for-tests"
EXPERIMENT, MODEL = "mlops-training", "mlops-classifier"
BACKEND_SECRET_MARKER = "backend-uri-with-db-password"


@dataclass(frozen=True)
class AuthServer:
    url: str
    state: Path
    pid: int

    def spec(self, passwords: dict[str, str]) -> str:
        levels = {
            "serving": {"experiment": "READ", "model": "READ"},
            "training": {"experiment": "EDIT", "model": "EDIT"},
            "prometheus": {},
        }
        users = []
        for name, password in passwords.items():
            path = self.state / f"{name}-password"
            path.write_text(password + "\n")
            users.append({"name": name, "password_file": str(path), **levels[name]})
        return json.dumps({"experiment": EXPERIMENT, "model": MODEL, "users": users})

    def bootstrap(self, passwords: dict[str, str], capsys: pytest.CaptureFixture[str]) -> list[str]:
        admin_file = self.state / "admin-password"
        admin_file.write_text(ADMIN_PASSWORD)
        env = {
            "MLFLOW_TRACKING_URI": self.url,
            "MLOPS_ADMIN_PASSWORD_FILE": str(admin_file),
            "MLOPS_IDENTITIES_SPEC": self.spec(passwords),
        }
        capsys.readouterr()
        saved = dict(os.environ)
        try:
            code = main(env)
        finally:
            os.environ.clear()
            os.environ.update(saved)
        out = capsys.readouterr()
        assert code == 0, out.err
        return out.out.strip().splitlines()


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    state = tmp_path_factory.mktemp("mlflow-auth")
    ini = state / "basic_auth.ini"
    ini.write_text(auth_config_ini(f"sqlite:///{state / 'auth' / 'basic_auth.db'}"))
    (state / "auth").mkdir()
    port = free_port()
    proc = ManagedProcess(
        name="mlflow-auth",
        argv=[
            mlflow_executable(),
            "server",
            "--app-name=basic-auth",
            f"--artifacts-destination={state / 'artifacts'}",
            "--serve-artifacts",
            "--host=127.0.0.1",
            f"--port={port}",
            "--workers=1",
        ],
        ready_url=f"http://127.0.0.1:{port}/health",
        log_path=state / "mlflow.log",
        env={
            **os.environ,
            "MLFLOW_AUTH_CONFIG_PATH": str(ini),
            "MLFLOW_AUTH_ADMIN_USERNAME": "admin",
            "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "MLFLOW_FLASK_SERVER_SECRET_KEY": "flask-key-for-tests",
            # As in the cluster: the backend URI (which carries the database password there) in the env.
            "MLFLOW_BACKEND_STORE_URI": f"sqlite:///{state / BACKEND_SECRET_MARKER}.db",
        },
    ).start()
    try:
        proc.wait_ready(timeout=600)  # a loaded 2-core machine took 280 s
        assert proc.pid is not None
        yield AuthServer(f"http://127.0.0.1:{port}", state, proc.pid)
    finally:
        proc.stop()


def as_user(monkeypatch: pytest.MonkeyPatch, user: str, password: str) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)


# MLflow refuses passwords shorter than 12 characters.
PASSWORDS = {"serving": "serving-pw-0001", "training": "training-pw-0001", "prometheus": "scrape-pw-0001"}


def test_identities_have_least_privilege_and_the_bootstrap_is_idempotent(
    auth_server: AuthServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    first = auth_server.bootstrap(PASSWORDS, capsys)
    assert f"created registered model {MODEL}" in first
    assert {"created user serving", "created user training", "created user prometheus"} <= set(first)
    assert auth_server.bootstrap(PASSWORDS, capsys) == ["no changes"]

    # Training: logs a run and a model version into the shared experiment, moves the champion alias.
    as_user(monkeypatch, "training", PASSWORDS["training"])
    mlflow.set_tracking_uri(auth_server.url)
    mlflow.set_experiment(EXPERIMENT)
    data = load_iris(as_frame=True)
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            LogisticRegression(max_iter=300).fit(data.data, data.target),
            name="model",
            registered_model_name=MODEL,
        )
    training = MlflowClient(tracking_uri=auth_server.url)
    training.set_registered_model_alias(MODEL, CHAMPION_ALIAS, info.registered_model_version)

    # Serving: resolves and reads the champion through its own registry client, cannot move the alias.
    serving_registry = RegistryClient(Connection(auth_server.url, "serving", PASSWORDS["serving"]))
    champion = serving_registry.model_version_by_alias(MODEL, CHAMPION_ALIAS)
    root = serving_registry.model_version_artifact_uri(MODEL, champion.version)
    assert b"skops" in serving_registry.read_artifact(root, "MLmodel")
    as_user(monkeypatch, "serving", PASSWORDS["serving"])
    serving = MlflowClient(tracking_uri=auth_server.url)
    with pytest.raises(MlflowException, match="Permission denied"):
        serving.set_registered_model_alias(MODEL, CHAMPION_ALIAS, champion.version)
    with pytest.raises(MlflowException, match="Permission denied"):
        serving.delete_registered_model_alias(MODEL, CHAMPION_ALIAS)

    # The scraper: authenticates (MLflow's /metrics needs only that), reads no model, manages no user.
    scrape = ("prometheus", PASSWORDS["prometheus"])
    assert httpx.get(f"{auth_server.url}/api/2.0/mlflow/users/current", auth=scrape).status_code == 200
    denied = httpx.get(
        f"{auth_server.url}/api/2.0/mlflow/registered-models/alias",
        params={"name": MODEL, "alias": CHAMPION_ALIAS},
        auth=scrape,
    )
    assert denied.status_code == 403
    for user, password in [scrape, ("serving", PASSWORDS["serving"])]:
        created = httpx.post(
            f"{auth_server.url}/api/2.0/mlflow/users/create",
            json={"username": f"evil-{user}", "password": "x" * 16},
            auth=(user, password),
        )
        assert created.status_code == 403


def test_a_changed_password_file_is_rotated(
    auth_server: AuthServer, capsys: pytest.CaptureFixture[str]
) -> None:
    auth_server.bootstrap(PASSWORDS, capsys)
    rotated = {**PASSWORDS, "serving": "serving-pw-0002"}
    assert auth_server.bootstrap(rotated, capsys) == ["rotated the password of serving"]
    url = f"{auth_server.url}/api/2.0/mlflow/users/current"
    assert httpx.get(url, auth=("serving", "serving-pw-0002")).status_code == 200
    assert httpx.get(url, auth=("serving", "serving-pw-0001")).status_code == 401
    assert auth_server.bootstrap(rotated, capsys) == ["no changes"]


def test_the_backend_uri_is_on_no_command_line_of_the_server(auth_server: AuthServer) -> None:
    """MLflow reads MLFLOW_BACKEND_STORE_URI (as the cluster now sets it): no argv in /proc shows the URI."""
    tree = process_tree(auth_server.pid)
    assert len(tree) > 1  # the CLI and its uvicorn workers
    for pid in tree:
        cmdline = command_line(pid)
        assert BACKEND_SECRET_MARKER not in cmdline, cmdline
    assert (auth_server.state / f"{BACKEND_SECRET_MARKER}.db").exists()  # and it is the store in use
