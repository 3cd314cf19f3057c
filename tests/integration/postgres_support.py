"""A throwaway PostgreSQL server from the Debian package, on 127.0.0.1, for tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Postgres:
    """A running server and the database the test asked for."""

    host: str
    port: int
    user: str
    password: str
    database: str


def postgres_bin() -> Path | None:
    """The newest installed server's bin dir (Debian keeps them under /usr/lib/postgresql/<major>)."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return candidates[-1].parent if candidates else None


def _as_postgres_user() -> list[str]:
    """initdb and postgres refuse to run as root; CI runs as root, so drop to the package's user."""
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", "postgres", "--"]


@contextmanager
def postgres_server(port: int, user: str, password: str, database: str) -> Iterator[Postgres]:
    """initdb into a fresh directory, start on 127.0.0.1:port with password auth, create `database`."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL is not installed (scripts/setup.sh system installs it)")
    root = Path(tempfile.mkdtemp(prefix="mlops-pg-"))
    prefix = _as_postgres_user()
    try:
        root.chmod(0o777)
        data, sockets = root / "data", root / "sock"
        pwfile = root / "pw"
        pwfile.write_text(password)
        pwfile.chmod(0o644)
        sockets.mkdir()
        sockets.chmod(0o777)
        subprocess.run(
            [*prefix, str(bin_dir / "initdb"), "-D", str(data), "-U", user, f"--pwfile={pwfile}",
             "--auth=scram-sha-256", "--encoding=UTF8"],
            check=True, capture_output=True,
        )  # fmt: skip
        log = (root / "postgres.log").open("wb")
        proc = subprocess.Popen(
            [*prefix, str(bin_dir / "postgres"), "-D", str(data), "-p", str(port), "-h", "127.0.0.1",
             "-k", str(sockets)],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            import psycopg

            deadline = time.monotonic() + 60
            while True:
                try:
                    conn = psycopg.connect(
                        host="127.0.0.1", port=port, user=user, password=password, dbname="postgres",
                        autocommit=True, connect_timeout=2,
                    )  # fmt: skip
                    break
                except psycopg.OperationalError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(
                            f"postgres did not start: {(root / 'postgres.log').read_text()[-2000:]}"
                        ) from None
                    time.sleep(0.3)
            with conn:
                conn.execute(f'CREATE DATABASE "{database}"')
            yield Postgres("127.0.0.1", port, user, password, database)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
