"""`python -m tests.services.local_serving`: the real server (uvicorn, settings from the environment, the
real app) with the registry replaced by an in-process loader of a tiny real model.

A stand-in for the registry only: the inference-log tests exercise what serving does with requests in a
real uvicorn process; loading from MLflow is covered by test_serving_integration.py (and a real MLflow server
takes minutes to start on a loaded 2-core machine, which made these tests time out).
"""

from __future__ import annotations

import sys

import uvicorn
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from services.serving.app import create_app
from services.serving.logs import configure_logging
from services.serving.metrics_server import start_metrics_server
from services.serving.settings import load_settings
from tests.services.conftest import MemoryLoader, TinyModel


def main() -> int:
    """Serve iris logistic regression as version 1 of the configured model name."""
    settings = load_settings()
    data = load_iris(as_frame=True)
    estimator = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(data.data, data.target)
    loader = MemoryLoader(model=TinyModel(estimator=estimator, features=data.data))
    configure_logging(settings.log_level)
    app = create_app(settings, loader)
    # As services/serving/__main__.py does: /metrics on its own listener.
    start_metrics_server(settings.host, settings.metrics_port, app.state.metrics.registry)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=20,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
