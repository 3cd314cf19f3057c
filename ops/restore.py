"""Restore MLflow's PostgreSQL database (and optionally its artifact store) from the backup CronJob's files.

The dump is pg_dump's custom format (`mlflow-<stamp>.dump`), restored with pg_restore in one transaction, so
a failure leaves the database as it was; the artifact archive (`artifacts-<stamp>.tar.gz`) is unpacked into
the artifact directory. The password comes from PGPASSWORD (libpq's own variable), never from a flag.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

# Tables whose row counts the restore reports: what a user checks first after a restore.
SUMMARY_TABLES = ("experiments", "runs", "registered_models", "model_versions", "registered_model_aliases")
SCHEMA_TABLE = "alembic_version"


class RestoreError(Exception):
    """A restore that cannot go on; the message says what to fix."""


@dataclass(frozen=True)
class Database:
    """Where to restore to."""

    host: str
    port: int
    user: str
    name: str
    password: str | None
    """From PGPASSWORD; None lets libpq use ~/.pgpass."""


@dataclass(frozen=True)
class RestoreRequest:
    """What to restore, from the CLI."""

    dump: Path
    database: Database
    replace: bool = False
    """Drop an existing MLflow schema first (else a non-empty database is an error)."""
    artifacts_archive: Path | None = None
    artifacts_dir: Path | None = None


@dataclass(frozen=True)
class RestoreResult:
    """What the database holds after the restore."""

    schema_revision: str
    counts: dict[str, int]


Progress = Callable[[str], None]


def restore(request: RestoreRequest, progress: Progress = print) -> RestoreResult:
    """Check the inputs, empty the target, pg_restore, unpack the artifacts, report what is there now."""
    pg_restore = shutil.which("pg_restore")
    if pg_restore is None:
        raise RestoreError("pg_restore not found on PATH: install the PostgreSQL client (postgresql-client)")
    progress(f"[1/5] checking the dump {request.dump}")
    _check_dump(pg_restore, request.dump)
    if request.artifacts_archive is not None:
        _check_archive(request.artifacts_archive, request.artifacts_dir, request.replace)
    db = request.database
    progress(f"[2/5] preparing database {db.name!r} on {db.host}:{db.port}")
    _prepare_database(db, request.replace, progress)
    progress("[3/5] pg_restore (one transaction: on error nothing is changed)")
    _pg_restore(pg_restore, request.dump, db)
    if request.artifacts_archive is not None and request.artifacts_dir is not None:
        progress(f"[4/5] unpacking {request.artifacts_archive} into {request.artifacts_dir}")
        _unpack(request.artifacts_archive, request.artifacts_dir)
    else:
        progress("[4/5] no artifact archive given: artifact store left as it is")
    result = _summary(db)
    counts = ", ".join(f"{table} {count}" for table, count in result.counts.items())
    progress(f"[5/5] restored: schema revision {result.schema_revision}; {counts}")
    return result


def _check_dump(pg_restore: str, dump: Path) -> None:
    if not dump.is_file():
        raise RestoreError(f"--dump {dump}: no such file")
    listing = subprocess.run([pg_restore, "--list", str(dump)], capture_output=True, text=True, check=False)
    if listing.returncode != 0:
        reason = (listing.stderr.strip().splitlines() or ["unreadable"])[-1]
        raise RestoreError(f"--dump {dump} is not a pg_dump custom-format archive: {reason}")
    if f"TABLE public {SCHEMA_TABLE} " not in listing.stdout:
        raise RestoreError(f"--dump {dump} holds no {SCHEMA_TABLE} table: not a dump of an MLflow database")


def _check_archive(archive: Path, target: Path | None, replace: bool) -> None:
    if target is None:
        raise RestoreError("--artifacts-archive needs --artifacts-dir (where the artifact store lives)")
    if not archive.is_file():
        raise RestoreError(f"--artifacts-archive {archive}: no such file")
    if not tarfile.is_tarfile(archive):
        raise RestoreError(f"--artifacts-archive {archive} is not a tar archive")
    if target.exists() and any(target.iterdir()) and not replace:
        raise RestoreError(f"--artifacts-dir {target} is not empty: pass --replace to overwrite it")


def _connect(db: Database, name: str) -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(
            host=db.host,
            port=db.port,
            user=db.user,
            password=db.password,
            dbname=name,
            autocommit=True,
            connect_timeout=10,
        )
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise RestoreError(
            f"cannot connect to PostgreSQL {db.host}:{db.port} as {db.user!r} (database {name!r}): {reason}"
        ) from None


def _prepare_database(db: Database, replace: bool, progress: Progress) -> None:
    """Create the database if it is gone; empty it if it holds a schema and --replace says so."""
    with _connect(db, "postgres") as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db.name,)).fetchone()
        if exists is None:
            progress(f"      database {db.name!r} does not exist: creating it")
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db.name)))
            return
    with _connect(db, db.name) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
        if tables is None or tables[0] == 0:
            return
        if not replace:
            raise RestoreError(
                f"database {db.name!r} already holds {tables[0]} tables: pass --replace to drop them "
                "(stop MLflow first) or restore into a new --database"
            )
        progress(f"      --replace: dropping the {tables[0]} tables of schema public")
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


def _pg_restore(pg_restore: str, dump: Path, db: Database) -> None:
    env = {"PGPASSWORD": db.password} if db.password is not None else {}
    command = [
        pg_restore,
        "--no-owner",
        "--no-privileges",
        "--exit-on-error",
        "--single-transaction",
        f"--host={db.host}",
        f"--port={db.port}",
        f"--username={db.user}",
        f"--dbname={db.name}",
        str(dump),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False, env={**os.environ, **env})
    if done.returncode != 0:
        raise RestoreError(f"pg_restore failed (database unchanged): {done.stderr.strip()[-1500:]}")


def _unpack(archive: Path, target: Path) -> None:
    if target.exists():
        for child in target.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        # The "data" filter refuses absolute paths, .. and device files: an archive cannot write elsewhere.
        tar.extractall(target, filter="data")


def _summary(db: Database) -> RestoreResult:
    with _connect(db, db.name) as conn:
        revision = conn.execute(f"SELECT version_num FROM {SCHEMA_TABLE}").fetchone()  # noqa: S608 - constant
        counts = {}
        for table in SUMMARY_TABLES:
            row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()
            counts[table] = int(str(row[0])) if row is not None else 0
    if revision is None:
        raise RestoreError(f"the restored database has no {SCHEMA_TABLE} row: the dump is not of MLflow")
    return RestoreResult(schema_revision=str(revision[0]), counts=counts)
