"""Run a real `mlflow server` (SQLite backend, proxied artifact store) as a child process."""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from devloop.process import ManagedProcess


@dataclass(frozen=True)
class MlflowServerSpec:
    """Where a local MLflow server keeps its state and listens."""

    state_dir: Path
    host: str = "127.0.0.1"
    port: int = 5000

    @property
    def url(self) -> str:
        """Tracking URI clients use."""
        return f"http://{self.host}:{self.port}"


def mlflow_executable() -> str:
    """The `mlflow` CLI next to this interpreter (a venv), else the one on PATH."""
    beside = Path(sys.executable).with_name("mlflow")
    if beside.exists():
        return str(beside)
    found = shutil.which("mlflow")
    if found is None:
        raise FileNotFoundError("the `mlflow` command is not installed (uv sync installs it)")
    return found


def mlflow_server_process(spec: MlflowServerSpec) -> ManagedProcess:
    """A ManagedProcess for `mlflow server` with state under spec.state_dir (kept across restarts)."""
    spec.state_dir.mkdir(parents=True, exist_ok=True)
    db = spec.state_dir / "mlflow.db"
    artifacts = spec.state_dir / "artifacts"
    argv = [
        mlflow_executable(),
        "server",
        "--backend-store-uri",
        f"sqlite:///{db}",
        "--artifacts-destination",
        str(artifacts),
        "--serve-artifacts",
        "--host",
        spec.host,
        "--port",
        str(spec.port),
        "--workers",
        "1",
        # /metrics for Prometheus (prometheus-flask-exporter), as in the cluster.
        "--expose-prometheus",
        str(spec.state_dir / "prometheus-metrics"),
    ]
    return ManagedProcess(
        name="mlflow",
        argv=argv,
        ready_url=f"{spec.url}/health",
        log_path=spec.state_dir / "mlflow-server.log",
        # As in the cluster (infra/components/mlflow_server.py): no job runner, whose seven huey consumers
        # hold 1.9 GiB and poll for jobs the platform never submits.
        env={"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
    )
