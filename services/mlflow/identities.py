"""Per-workload MLflow users and their permissions, created through MLflow's auth API by the admin.

Runs as a Job in the MLflow image (stdlib + mlflow only: infra ships this file in a ConfigMap, so the image
needs no project code). Declarative and idempotent: it creates what is missing, rotates a password that no
longer matches its file, sets each grant to the wanted level, and reports exactly what it changed; a rerun
against an unchanged spec changes nothing.

Spec (JSON, `MLOPS_IDENTITIES_SPEC`): the experiment and registered model the workloads share, and users:
    {"experiment": "mlops-training", "model": "mlops-classifier",
     "users": [{"name": "serving", "password_file": "/run/identities/serving",
                "experiment": "READ", "model": "READ"}, ...]}
A user without `experiment`/`model` gets no permission on them (with `default_permission = NO_PERMISSIONS`
it can only authenticate, which is all a metrics scraper needs). Admin credentials: MLFLOW_TRACKING_USERNAME
and a password file (`MLOPS_ADMIN_PASSWORD_FILE`); the server: MLFLOW_TRACKING_URI.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.server import get_app_client

LEVELS = ("READ", "USE", "EDIT", "MANAGE")
EXPERIMENT, REGISTERED_MODEL = "experiment", "registered_model"


class SpecError(ValueError):
    """The spec is malformed; the message names the field."""


@dataclass(frozen=True)
class Identity:
    """One workload's user and what it may do."""

    name: str
    password: str
    experiment: str | None
    model: str | None


@dataclass(frozen=True)
class Spec:
    """Everything the bootstrap makes true."""

    experiment: str
    model: str
    users: tuple[Identity, ...]


def load_spec(raw: str) -> Spec:
    """Parse and validate the spec; passwords are read from their files here."""
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise SpecError(f"spec is not JSON: {exc}") from None
    for key in ("experiment", "model", "users"):
        if key not in doc:
            raise SpecError(f"spec: `{key}` is missing")
    users = []
    for index, user in enumerate(doc["users"]):
        where = f"users[{index}]"
        for key in ("experiment", "model"):
            if user.get(key) is not None and user[key] not in LEVELS:
                raise SpecError(f"{where}.{key}: {user[key]!r} is not one of {', '.join(LEVELS)}")
        try:
            password = Path(user["password_file"]).read_text().strip()
        except KeyError:
            raise SpecError(f"{where}.password_file is missing") from None
        except OSError as exc:
            raise SpecError(f"{where}.password_file: {exc.strerror}: {user['password_file']}") from None
        if not password:
            raise SpecError(f"{where}.password_file {user['password_file']} is empty")
        users.append(Identity(str(user["name"]), password, user.get("experiment"), user.get("model")))
    return Spec(str(doc["experiment"]), str(doc["model"]), tuple(users))


def _authenticates(tracking_uri: str, username: str, password: str) -> bool:
    response = requests.get(
        f"{tracking_uri.rstrip('/')}/api/2.0/mlflow/users/current",
        auth=(username, password),
        timeout=30,
    )
    return response.status_code == 200


def apply(spec: Spec, tracking_uri: str) -> list[str]:
    """Make the server match the spec (as the admin in the environment); the changes made, in order."""
    changes: list[str] = []
    registry = MlflowClient(tracking_uri=tracking_uri)
    auth = get_app_client("basic-auth", tracking_uri=tracking_uri)

    experiment = registry.get_experiment_by_name(spec.experiment)
    if experiment is None:
        experiment_id = registry.create_experiment(spec.experiment)
        changes.append(f"created experiment {spec.experiment}")
    else:
        experiment_id = experiment.experiment_id
    try:
        registry.get_registered_model(spec.model)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        registry.create_registered_model(spec.model)
        changes.append(f"created registered model {spec.model}")

    for user in spec.users:
        try:
            auth.get_user(user.name)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
            auth.create_user(user.name, user.password)
            changes.append(f"created user {user.name}")
        else:
            if not _authenticates(tracking_uri, user.name, user.password):
                auth.update_user_password(user.name, user.password)
                changes.append(f"rotated the password of {user.name}")
        wanted = {EXPERIMENT: (experiment_id, user.experiment), REGISTERED_MODEL: (spec.model, user.model)}
        for resource_type, (resource_id, level) in wanted.items():
            current = auth.get_user_permission(user.name, resource_type, resource_id).permission
            if level is None:
                if current not in {"NO_PERMISSIONS", "DENY"}:
                    auth.revoke_user_permission(user.name, resource_type, resource_id)
                    changes.append(f"revoked {user.name}'s {current} on {resource_type} {resource_id}")
            elif current != level:
                auth.grant_user_permission(user.name, resource_type, resource_id, level)
                changes.append(f"granted {user.name} {level} on {resource_type} {resource_id}")
    return changes


def main(env: dict[str, Any] | None = None) -> int:
    """Exit 0 after printing each change (or that there was none), 2 on a bad spec, 1 on a server error."""
    env = dict(os.environ if env is None else env)
    try:
        spec = load_spec(env.get("MLOPS_IDENTITIES_SPEC", ""))
        admin_file = env.get("MLOPS_ADMIN_PASSWORD_FILE")
        if not admin_file:
            raise SpecError("MLOPS_ADMIN_PASSWORD_FILE must be set")
        # MLflow's clients read the admin login from these; the password only ever sits in this process.
        os.environ["MLFLOW_TRACKING_USERNAME"] = env.get("MLFLOW_TRACKING_USERNAME", "admin")
        os.environ["MLFLOW_TRACKING_PASSWORD"] = Path(admin_file).read_text().strip()
        tracking_uri = env["MLFLOW_TRACKING_URI"]
    except (SpecError, OSError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        changes = apply(spec, tracking_uri)
    except MlflowException as exc:
        print(f"error: MLflow refused a change: {exc.message}", file=sys.stderr)
        return 1
    for change in changes or ["no changes"]:
        print(change)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
