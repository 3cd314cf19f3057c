"""`python -m services.retrain_trigger`: the webhook receiver under uvicorn, configured from the env."""

from __future__ import annotations

import logging
import os
import sys

import uvicorn

from mlops_contract.names import RETRAIN_CRONJOB_NAME, RETRAIN_TRIGGER_PORT, Env
from services.retrain_trigger.app import create_app
from services.retrain_trigger.backends import KubernetesBackend, LocalBackend, RetrainBackend


def backend_from_env(env: dict[str, str]) -> RetrainBackend:
    """`kubernetes` (in the cluster: MLOPS_NAMESPACE, MLOPS_RETRAIN_CRONJOB) or `local` (dev loop)."""
    kind = env.get(Env.TRIGGER_BACKEND, "kubernetes")
    if kind == "local":
        return LocalBackend()
    if kind == "kubernetes":
        namespace = env.get(Env.NAMESPACE)
        if not namespace:
            raise ValueError(f"{Env.NAMESPACE} must be set for the kubernetes backend")
        return KubernetesBackend(namespace, env.get(Env.RETRAIN_CRONJOB, RETRAIN_CRONJOB_NAME))
    raise ValueError(f"{Env.TRIGGER_BACKEND}: {kind!r} is not one of kubernetes, local")


def main() -> int:
    """Exit 2 on bad settings (one line naming the variable), else serve until SIGTERM."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    env = dict(os.environ)
    try:
        backend = backend_from_env(env)
        port = int(env.get(Env.TRIGGER_PORT, str(RETRAIN_TRIGGER_PORT)))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    host = env.get(Env.TRIGGER_HOST, "127.0.0.1")
    uvicorn.run(create_app(backend), host=host, port=port, log_level="warning", timeout_graceful_shutdown=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
