"""`python -m services.retrain_trigger`: the webhook receiver under uvicorn, configured from the env."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import uvicorn

from mlops_contract.names import RETRAIN_CRONJOB_NAME, RETRAIN_TRIGGER_PORT, Env, Route
from services.retrain_trigger.app import create_app
from services.retrain_trigger.backends import KubernetesBackend, LocalBackend, RetrainBackend
from services.retrain_trigger.guard import DEFAULT_MAX_BODY_BYTES, GuardSettings


def _positive_int(env: dict[str, str], key: Env, default: int) -> int:
    raw = env.get(key, str(default))
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{key}: {raw!r} is not a positive integer")
    return int(raw)


def backend_from_env(env: dict[str, str]) -> RetrainBackend:
    """`kubernetes` (in the cluster: MLOPS_NAMESPACE, MLOPS_RETRAIN_CRONJOB) or `local` (dev loop)."""
    kind = env.get(Env.TRIGGER_BACKEND, "kubernetes")
    if kind == "local":
        return LocalBackend()
    if kind == "kubernetes":
        namespace = env.get(Env.NAMESPACE)
        if not namespace:
            raise ValueError(f"{Env.NAMESPACE} must be set for the kubernetes backend")
        return KubernetesBackend(
            namespace,
            env.get(Env.RETRAIN_CRONJOB, RETRAIN_CRONJOB_NAME),
            max_active=_positive_int(env, Env.TRIGGER_MAX_ACTIVE, 1),
        )
    raise ValueError(f"{Env.TRIGGER_BACKEND}: {kind!r} is not one of kubernetes, local")


def guard_from_env(env: dict[str, str]) -> GuardSettings:
    """Bearer token from MLOPS_TRIGGER_TOKEN_FILE (a mounted Secret); required for the kubernetes backend.

    Only the local dev loop (loopback, no Kubernetes) may run without one.
    """
    path = env.get(Env.TRIGGER_TOKEN_FILE)
    token = None
    if path:
        try:
            token = Path(path).read_text().strip()
        except OSError as exc:
            raise ValueError(f"{Env.TRIGGER_TOKEN_FILE}: cannot read {path}: {exc.strerror}") from None
        if not token:
            raise ValueError(f"{Env.TRIGGER_TOKEN_FILE}: {path} is empty")
    elif env.get(Env.TRIGGER_BACKEND, "kubernetes") != "local":
        raise ValueError(f"{Env.TRIGGER_TOKEN_FILE} must be set for the kubernetes backend")
    return GuardSettings(
        Route.ALERTS,
        token=token,
        max_body_bytes=_positive_int(env, Env.TRIGGER_MAX_BODY_BYTES, DEFAULT_MAX_BODY_BYTES),
    )


def main() -> int:
    """Exit 2 on bad settings (one line naming the variable), else serve until SIGTERM."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    env = dict(os.environ)
    try:
        backend = backend_from_env(env)
        guard = guard_from_env(env)
        port = int(env.get(Env.TRIGGER_PORT, str(RETRAIN_TRIGGER_PORT)))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    host = env.get(Env.TRIGGER_HOST, "127.0.0.1")
    uvicorn.run(
        create_app(backend, guard=guard),
        host=host,
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=10,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
