"""The MLflow Deployment's container, run as rendered (args and env) against real PostgreSQL, fits its memory
limit: what it starts, all of it, stays under the limit the manifest gives the container.

MLflow 3 starts a job runner beside the server by default (seven huey consumer processes, each importing
MLflow): 1.9 GiB of RSS measured here, nearly twice the container's 1 GiB limit, for jobs (GenAI
evaluation, trace rollups) the platform never runs. In a cgroup the kernel would kill the container.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from devloop.process_tree import command_line, process_tree, rss_bytes
from tests.infra.conftest import config_for
from tests.integration.postgres_support import postgres_bin
from tests.integration.stack_processes import rendered_stack, stack_mlflow, stack_postgres

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(900),
    pytest.mark.skipif(postgres_bin() is None, reason="PostgreSQL not installed (scripts/setup.sh system)"),
]

_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
SETTLE_SECONDS = 10.0
"""How long the server runs before its processes are counted: MLflow's job runner starts its consumers
within a few seconds of the server (about 3 s here)."""


def test_the_mlflow_container_starts_no_job_runner_and_fits_its_memory_limit(tmp_path: Path) -> None:
    stack = rendered_stack(config_for("kind"), tmp_path)
    limit = _bytes(stack.container("Deployment", "mlflow")["resources"]["limits"]["memory"])
    with stack_postgres(stack), stack_mlflow(stack) as server:
        assert server.pid is not None
        time.sleep(SETTLE_SECONDS)
        tree = process_tree(server.pid)
        commands = [command_line(pid) for pid in tree]
        rss = rss_bytes(tree)
    consumers = [c for c in commands if "huey" in c or "_job_runner" in c]
    assert not consumers, f"MLflow started its job runner: {consumers}"
    assert rss < limit * 0.75, (
        f"MLflow's processes use {rss / 2**20:.0f} MiB of a {limit / 2**20:.0f} MiB limit"
    )


def _bytes(quantity: str) -> int:
    for suffix, factor in _UNITS.items():
        if quantity.endswith(suffix):
            return int(quantity.removesuffix(suffix)) * factor
    return int(quantity)
