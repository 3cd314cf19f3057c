"""MLflow's basic-auth config file, shared by the cluster (a ConfigMap) and the tests' real server."""

from __future__ import annotations


def auth_config_ini(database_uri: str) -> str:
    """`basic_auth.ini`: nothing readable by default; each workload gets grants from the identity bootstrap.

    The admin's username and first password come from the environment (the MLflow pod's Secret).
    """
    return (
        "[mlflow]\n"
        "default_permission = NO_PERMISSIONS\n"
        f"database_uri = {database_uri}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )
