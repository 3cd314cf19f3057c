"""The one fast path every protocol feeds: micro-batched prediction, drift and prediction metrics.

A protocol module parses its own request shape into a float matrix in signature order (services.serving
.validation), calls `infer`, and renders the result in its own response shape; what happens in between is
the same for /v1/predict, /invocations, V2 infer and KServe V1.
"""

from __future__ import annotations

from collections import Counter as Tally
from typing import Any

import numpy as np
import numpy.typing as npt

from services.serving.batching import Batcher, Prediction
from services.serving.inference_log import log_prediction
from services.serving.metrics import ServingMetrics
from services.serving.state import Served


class ModelRejected(ValueError):
    """The estimator refused values the input checks allowed (its message is not echoed to clients)."""


async def infer(app_state: Any, served: Served, matrix: npt.NDArray[np.float64]) -> Prediction:
    """Predictions (and probabilities, for classifiers) for matrix by served's model, counted in metrics."""
    batcher: Batcher = app_state.batcher
    metrics: ServingMetrics = app_state.metrics
    try:
        predictions, probabilities = await batcher.predict(served, matrix)
    except ValueError as exc:
        raise ModelRejected(f"model rejected input: {type(exc).__name__}") from None
    metrics.batch_rows.observe(len(predictions))
    version = served.model.ref.version
    for label, count in Tally(str(p) for p in predictions).items():
        metrics.predictions.labels(version, label).inc(count)
    # Here, not in a route: every protocol's predictions reach the inference log the same way.
    log_prediction(app_state, served.model, matrix, predictions)
    return predictions, probabilities
