"""Runs and versions a dead training left behind: give each run a deadline, mark abandoned ones FAILED.

A training that loses MLflow mid-run cannot tell MLflow it failed. Its run stays RUNNING and its version (if
it got that far) stays tagged `pending`, which the gate never promotes. Each run carries the epoch by which
it must have finished; the next training sweeps runs past that deadline to FAILED and tags their pending
versions `failed`, so nothing stays RUNNING forever and no orphan looks promotable.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from mlflow import MlflowClient
from mlflow.entities import RunStatus

from mlops_contract.names import Tag

PENDING = "pending"
FAILED = "failed"
RUN_DEADLINE_TAG = "mlops.run.deadline"


def sweep_abandoned(
    client: MlflowClient, experiment_id: str, model_name: str, report: Callable[[str], None]
) -> list[str]:
    """Mark RUNNING runs past their deadline FAILED and their pending versions failed; their run ids."""
    now = time.time()
    swept = []
    runs = client.search_runs([experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=200)
    for run in runs:
        try:
            deadline = float(run.data.tags.get(RUN_DEADLINE_TAG, "inf"))
        except ValueError:
            continue
        if deadline >= now:
            continue
        client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.FAILED))
        mark_versions_failed(client, model_name, run.info.run_id, "its training run was abandoned")
        swept.append(run.info.run_id)
        report(f"marked abandoned run {run.info.run_id} FAILED (past its deadline)")
    return swept


def mark_versions_failed(client: MlflowClient, model_name: str, run_id: str, reason: str) -> None:
    """Tag the run's still-pending versions failed, with the reason: no one takes them for candidates."""
    for version in client.search_model_versions(f"name = '{model_name}' and run_id = '{run_id}'"):
        if version.tags.get(Tag.GATE_DECISION, PENDING) == PENDING:
            client.set_model_version_tag(model_name, version.version, Tag.GATE_DECISION, FAILED)
            client.set_model_version_tag(model_name, version.version, Tag.GATE_REASON, reason)
