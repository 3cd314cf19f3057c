"""`python -m ops restore ...`: see docs/operations.md."""

from __future__ import annotations

import argparse
import io
import os
import sys
from pathlib import Path

from ops.restore import Database, RestoreError, RestoreRequest, restore


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ops", description="Day-2 operations on an MLflow stack.")
    commands = parser.add_subparsers(dest="command", required=True)
    cmd = commands.add_parser(
        "restore",
        help="restore the MLflow database (and artifacts) from a backup",
        description="Restore from the backup CronJob's files. The password comes from PGPASSWORD.",
    )
    cmd.add_argument("--dump", type=Path, required=True, help="mlflow-<stamp>.dump (pg_dump custom format)")
    cmd.add_argument("--host", default="127.0.0.1", help="PostgreSQL host (a port-forward: 127.0.0.1)")
    cmd.add_argument("--port", type=int, default=5432, help="PostgreSQL port")
    cmd.add_argument("--user", default="mlflow", help="PostgreSQL user (the stack's: mlflow)")
    cmd.add_argument("--database", default="mlflow", help="database to restore into (the stack's: mlflow)")
    cmd.add_argument("--replace", action="store_true", help="drop what the database/artifact dir holds first")
    cmd.add_argument("--artifacts-archive", type=Path, help="artifacts-<stamp>.tar.gz to unpack too")
    cmd.add_argument(
        "--artifacts-dir", type=Path, help="where the artifact store lives (with --artifacts-archive)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """0 restored, 1 the restore failed (message on stderr), 2 bad flags."""
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)
    request = RestoreRequest(
        dump=args.dump,
        database=Database(
            host=args.host,
            port=args.port,
            user=args.user,
            name=args.database,
            password=os.environ.get("PGPASSWORD"),
        ),
        replace=args.replace,
        artifacts_archive=args.artifacts_archive,
        artifacts_dir=args.artifacts_dir,
    )
    try:
        restore(request)
    except RestoreError as exc:
        print(f"restore failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
