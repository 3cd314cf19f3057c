"""Day-2 operations for real: the schema migration Job, the backup CronJob, `python -m ops restore` and the
`mlflow gc` CronJob, each run with exactly the command, args and env the rendered manifests give it, against
real PostgreSQL, the real MLflow server of the manifests and the real serving process.

The older MLflow release (a database created by it is what the migration must carry forward) is installed
from PyPI with uv into its own virtualenv, cached under ~/.cache/mlops-platform so reruns are fast.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from infra.components.mlflow_maintenance import BACKUP_CRONJOB, GC_CRONJOB
from infra.components.schema_migration import MIGRATION_JOB_PREFIX
from tests.infra.conftest import config_for, pod_spec
from tests.integration.pod_runtime import entrypoint
from tests.integration.postgres_support import postgres_bin
from tests.integration.registry_state import EXPERIMENT, MODEL_NAME, model_dir, registry
from tests.integration.stack_processes import (
    RenderedStack,
    rendered_stack,
    served_model,
    stack_mlflow,
    stack_postgres,
    stack_serving,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(2400),
    pytest.mark.skipif(postgres_bin() is None, reason="PostgreSQL not installed (scripts/setup.sh system)"),
]

# A 2.x release: its schema is many alembic revisions behind the locked 3.x (logged models, workspaces, ...).
OLD_MLFLOW = "2.22.5"


def _old_mlflow() -> Path:
    """The older release's interpreter, installed once with uv (`uv venv` + `uv pip install`)."""
    root = (
        Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
        / "mlops-platform"
        / f"mlflow-{OLD_MLFLOW}"
    )
    python, done = root / "bin" / "python", root / ".installed"
    if not done.is_file():
        uv = shutil.which("uv")
        assert uv is not None, "uv is needed to install the older MLflow release"
        shutil.rmtree(root, ignore_errors=True)
        subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(root)], check=True)
        # SQLAlchemy 2.1 removed a pool class MLflow 2.22 imports: the release ran on 2.0.
        subprocess.run(
            [uv, "pip", "install", "--quiet", "--python", str(python), f"mlflow=={OLD_MLFLOW}",
             "psycopg2-binary", "sqlalchemy<2.1"],
            check=True,
            timeout=900,
        )  # fmt: skip
        done.touch()
    return python


def _migration_job(stack: RenderedStack) -> dict[str, Any]:
    jobs = [
        m
        for m in stack.manifests
        if m["kind"] == "Job" and m["metadata"]["name"].startswith(f"{MIGRATION_JOB_PREFIX}-")
    ]
    assert len(jobs) == 1, [j["metadata"]["name"] for j in jobs]
    return jobs[0]


def _run_container(stack: RenderedStack, container: dict[str, Any], dockerfile: str | None = None) -> str:
    """One Job pod's container to completion (an image entrypoint first, if the container has no command)."""
    env = stack.env(container)
    argv = (entrypoint(dockerfile) if dockerfile else []) + stack.pod.args(container, env)
    done = stack.run(argv, env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout + done.stderr


def _revision(stack: RenderedStack, password: str) -> str:
    with psycopg.connect(
        host="127.0.0.1", port=stack.pg_port, user="mlflow", password=password, dbname="mlflow"
    ) as conn:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    assert row is not None
    return str(row[0])


def _db_password(stack: RenderedStack) -> str:
    return stack.secrets[("mlflow-credentials", "postgres-password")]


def test_a_database_of_an_older_mlflow_is_migrated_by_the_job_and_served(tmp_path: Path) -> None:
    old_python = _old_mlflow()
    stack = rendered_stack(config_for("kind"), tmp_path)
    password = _db_password(stack)
    model, rows = model_dir(tmp_path / "model")
    with stack_postgres(stack):
        # The older release creates the schema and fills it through its own server (proxied artifacts).
        from devloop.process import ManagedProcess
        from tests.conftest import free_port

        old_port = free_port()
        old_uri = f"postgresql://mlflow:{password}@127.0.0.1:{stack.pg_port}/mlflow"
        with ManagedProcess(
            "old-mlflow",
            [str(old_python.with_name("mlflow")), "server", "--backend-store-uri", old_uri, "--serve-artifacts",
             "--artifacts-destination", str(tmp_path / "pvc" / "artifacts"), "--host", "127.0.0.1",
             "--port", str(old_port), "--workers", "1"],
            f"http://127.0.0.1:{old_port}/health",
            tmp_path / "old-mlflow.log",
            # `mlflow server` execs the gunicorn found on PATH: it must be the old release's.
            env={**os.environ, "PATH": f"{old_python.parent}{os.pathsep}{os.environ['PATH']}"},
        ).start() as old_server:  # fmt: skip
            old_server.wait_ready(timeout=600)
            old_url = f"http://127.0.0.1:{old_port}"
            registry(old_python, "fill", old_url, str(model), MODEL_NAME, EXPERIMENT)
            before = registry(old_python, "snapshot", old_url)
        old_revision = _revision(stack, password)

        # The current release expects a newer head. (Its server would refuse this schema, or, when whole
        # tables are missing as here, upgrade it itself from every starting replica: the Job does it once.)
        from mlflow.store.db.utils import _get_latest_schema_revision

        head = _get_latest_schema_revision()
        assert old_revision != head

        # The migration Job's container, exactly as rendered (the MLflow image's entrypoint + its args).
        container = pod_spec(_migration_job(stack))["containers"][0]
        started = time.monotonic()
        _run_container(stack, container, "services/mlflow/Dockerfile")
        print(
            f"schema migration {old_revision} -> {_revision(stack, password)}: {time.monotonic() - started:.1f}s"
        )
        migrated = _revision(stack, password)
        assert migrated == head
        # Idempotent: a second run (a replaced Job, a manual re-run) changes nothing and succeeds.
        _run_container(stack, container, "services/mlflow/Dockerfile")
        assert _revision(stack, password) == migrated

        with stack_mlflow(stack):
            after = registry(sys.executable, "snapshot", stack.mlflow_url, auth=stack.admin)
            assert after == before
            assert after["aliases"][MODEL_NAME] == {"challenger": "1", "champion": "2"}
            assert len(after["runs"]) == 3 and len(after["versions"]) == 2
            with stack_serving(stack) as serving:
                body = served_model(serving, rows)
                assert body["model_version"] == "2"
                assert len(body["predictions"]) == 3


def test_backup_then_dropped_database_then_restore_gives_back_registry_and_champion(tmp_path: Path) -> None:
    stack = rendered_stack(config_for("kind"), tmp_path)
    password = _db_password(stack)
    model, rows = model_dir(tmp_path / "model")
    backup = stack.container("CronJob", BACKUP_CRONJOB)
    backup_env = stack.env(backup)
    # Service names are mapped for URLs; libpq takes host and port apart.
    backup_env.update({"PGHOST": "127.0.0.1", "PGPORT": str(stack.pg_port)})
    with stack_postgres(stack):
        with stack_mlflow(stack, "mlflow-before.log"):
            registry(
                sys.executable, "fill", stack.mlflow_url, str(model), MODEL_NAME, EXPERIMENT, auth=stack.admin
            )
            before = registry(sys.executable, "snapshot", stack.mlflow_url, auth=stack.admin)
            with stack_serving(stack) as serving:
                served_before = served_model(serving, rows)
            # The backup CronJob's container, exactly as rendered (the postgres image has no entrypoint
            # script in the way: `command` is the whole argv).
            for _ in range(3):
                done = stack.run(stack.pod.args(backup, backup_env), backup_env)
                assert done.returncode == 0, done.stdout + done.stderr
                time.sleep(1.1)  # backups are named by the second
        kept = sorted(p.name for p in (tmp_path / "backup").iterdir())
        keep = int(backup_env["BACKUP_KEEP"])
        assert len([n for n in kept if n.endswith(".dump")]) == min(3, keep), kept
        assert not [n for n in kept if n.startswith(".")], kept  # no partial files left
        dump = max((tmp_path / "backup").glob("mlflow-*.dump"))
        archive = max((tmp_path / "backup").glob("artifacts-*.tar.gz"))

        # Disaster: the database is dropped and the artifact store is wiped.
        with psycopg.connect(
            host="127.0.0.1", port=stack.pg_port, user="mlflow", password=password, dbname="postgres",
            autocommit=True,
        ) as admin:  # fmt: skip
            admin.execute("DROP DATABASE mlflow")
        shutil.rmtree(tmp_path / "pvc")
        (tmp_path / "pvc").mkdir()

        restore = [sys.executable, "-m", "ops", "restore", "--dump", str(dump), "--host", "127.0.0.1",
                   "--port", str(stack.pg_port), "--user", "mlflow", "--database", "mlflow",
                   "--artifacts-archive", str(archive), "--artifacts-dir", str(tmp_path / "pvc")]  # fmt: skip
        env = {**os.environ, "PGPASSWORD": password}
        started = time.monotonic()
        done = subprocess.run(restore, capture_output=True, text=True, env=env, timeout=900, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        print(f"restore: {time.monotonic() - started:.1f}s")
        assert "does not exist: creating it" in done.stdout
        assert "registered_models 1, model_versions 2, registered_model_aliases 2" in done.stdout
        # A second restore over the restored data needs --replace: never silently overwritten.
        database_only = restore[: restore.index("--artifacts-archive")]
        again = subprocess.run(
            database_only, capture_output=True, text=True, env=env, timeout=900, check=False
        )
        assert again.returncode == 1
        assert "already holds" in again.stderr and "--replace" in again.stderr
        assert "Traceback" not in again.stderr
        replaced = subprocess.run(
            [*restore, "--replace"], capture_output=True, text=True, env=env, timeout=900, check=False
        )
        assert replaced.returncode == 0, replaced.stdout + replaced.stderr

        with stack_mlflow(stack, "mlflow-after.log"):
            after = registry(sys.executable, "snapshot", stack.mlflow_url, auth=stack.admin)
            assert after == before
            with stack_serving(stack) as serving:
                served_after = served_model(serving, rows)
    assert served_after["model_version"] == served_before["model_version"] == "2"
    assert served_after["predictions"] == served_before["predictions"]


def test_gc_cronjob_purges_runs_deleted_before_the_retention_and_keeps_the_rest(tmp_path: Path) -> None:
    stack = rendered_stack(config_for("kind"), tmp_path)
    password = _db_password(stack)
    model, _ = model_dir(tmp_path / "model")
    gc = stack.container("CronJob", GC_CRONJOB)
    days = int(
        next(a for a in gc["args"] if a.startswith("--older-than=")).removeprefix("--older-than=")[:-1]
    )
    with stack_postgres(stack), stack_mlflow(stack):
        registry(
            sys.executable, "fill", stack.mlflow_url, str(model), MODEL_NAME, EXPERIMENT, auth=stack.admin
        )
        state = registry(sys.executable, "snapshot", stack.mlflow_url, auth=stack.admin)
        by_name = {run["name"]: run_id for run_id, run in state["runs"].items()}
        from mlflow import MlflowClient

        os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"] = stack.admin
        try:
            client = MlflowClient(tracking_uri=stack.mlflow_url)
            old_deleted, new_deleted = by_name["run-2"], by_name["run-1"]
            client.delete_run(old_deleted)
            client.delete_run(new_deleted)
            artifacts = tmp_path / "pvc" / "artifacts"
            assert list(artifacts.rglob(f"{old_deleted}/artifacts/model/MLmodel"))
            # Deleted longer ago than the retention (deletion time is what `--older-than` compares).
            with psycopg.connect(
                host="127.0.0.1", port=stack.pg_port, user="mlflow", password=password, dbname="mlflow"
            ) as conn:
                conn.execute(
                    "UPDATE runs SET deleted_time = %s WHERE run_uuid = %s",
                    (int((time.time() - (days + 1) * 86400) * 1000), old_deleted),
                )

            output = _run_container(stack, gc, "services/mlflow/Dockerfile")
            experiment_id = client.get_experiment_by_name(EXPERIMENT).experiment_id  # type: ignore[union-attr]
            remaining = {r.info.run_id for r in client.search_runs([experiment_id], run_view_type=3)}
        finally:
            os.environ.pop("MLFLOW_TRACKING_USERNAME", None)
            os.environ.pop("MLFLOW_TRACKING_PASSWORD", None)
    assert old_deleted not in remaining, output[-2000:]
    assert {new_deleted, by_name["run-0"]} <= remaining  # inside the grace period / not deleted
    # Its artifacts went too, deleted through the proxied artifact store.
    assert not list(artifacts.rglob(f"{old_deleted}/artifacts/model/MLmodel"))
    assert list(artifacts.rglob(f"{new_deleted}/artifacts/model/MLmodel"))
