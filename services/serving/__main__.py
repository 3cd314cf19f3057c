"""`python -m services.serving`: read settings, configure logs, run uvicorn with graceful shutdown."""

from __future__ import annotations

import sys

import uvicorn

from mlops_contract.names import SERVING_SHUTDOWN_GRACE_SECONDS, Env
from services.serving.app import create_app
from services.serving.http_protocol import bounded_http
from services.serving.loader import MlflowLoader
from services.serving.logs import configure_logging
from services.serving.metrics_server import start_metrics_server
from services.serving.settings import SettingsError, load_settings

EXIT_BAD_CONFIG = 2
EXIT_CANNOT_LISTEN = 1


def main() -> int:
    """Entry point; returns the exit code."""
    try:
        settings = load_settings()
        loader = MlflowLoader(settings.connection(), settings.trusted_types)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    configure_logging(settings.log_level)
    app = create_app(settings, loader)
    try:
        start_metrics_server(settings.host, settings.metrics_port, app.state.metrics.registry)
    except OSError as exc:
        where = f"{settings.host}:{settings.metrics_port}"
        print(
            f"error: cannot listen for metrics on {where}: {exc.strerror or exc} "
            f"(is another server there? {Env.SERVING_METRICS_PORT} picks the port)",
            file=sys.stderr,
        )
        return EXIT_CANNOT_LISTEN
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=SERVING_SHUTDOWN_GRACE_SECONDS,
        # Connection cap, read deadlines, bounded reads; per-request admission: services/serving/admission.py.
        # A BufferedProtocol (it sizes its reads): uvicorn takes any protocol class; its stub says Protocol.
        http=bounded_http(settings.header_timeout_seconds),  # type: ignore[arg-type]
        limit_concurrency=settings.max_connections,
        timeout_keep_alive=settings.keepalive_seconds,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
