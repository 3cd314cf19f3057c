"""A loaded model version: the estimator, its identity, input schema and drift reference. Immutable."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from mlops_contract.profile import ReferenceProfile
from services.serving.fast_proba import fast_predict_proba


@dataclass(frozen=True)
class VersionRef:
    """What an alias points to in the registry."""

    name: str
    version: str
    alias: str
    run_id: str
    created_at: float
    """Registration time, seconds since the epoch (model age is measured from it)."""


@dataclass(frozen=True)
class LoadedModel:
    """Everything the request path needs, swapped as one object when the alias moves."""

    ref: VersionRef
    estimator: Any
    feature_names: tuple[str, ...]
    loaded_at: float
    profile: ReferenceProfile | None = None
    signature: dict[str, Any] | None = None
    input_example: dict[str, Any] | None = None
    """The request body MLflow logged with the model (`serving_input_example.json`), if any."""

    @functools.cached_property
    def classes(self) -> list[Any] | None:
        """Class labels in probability-column order, if the estimator is a classifier (read per request)."""
        classes = getattr(self.estimator, "classes_", None)
        return None if classes is None else [_native(c) for c in classes]

    @functools.cached_property
    def _proba_fn(self) -> Callable[[npt.NDArray[np.float64]], Any] | None:
        """The estimator's predict_proba, or an equal faster one (services/serving/fast_proba.py)."""
        return fast_predict_proba(self.estimator) or getattr(self.estimator, "predict_proba", None)

    def predict(self, matrix: npt.NDArray[np.float64]) -> tuple[list[Any], list[list[float]] | None]:
        """Predictions and (where the model has them) class probabilities for a 2-D float matrix."""
        proba_fn = self._proba_fn
        classes = getattr(self.estimator, "classes_", None)
        if proba_fn is not None and classes is not None:
            proba = np.asarray(proba_fn(matrix), dtype=float)
            if not np.isfinite(proba).all():
                raise ValueError("model returned non-finite probabilities")
            labels = classes[np.argmax(proba, axis=1)]
            return [_native(c) for c in labels], proba.tolist()
        predicted = self.estimator.predict(matrix)
        return [_native(p) for p in predicted], None


def _native(value: Any) -> Any:
    """numpy scalars -> JSON-native Python values; non-finite floats are a model bug, not a result."""
    item = value.item() if isinstance(value, np.generic) else value
    if isinstance(item, float) and not math.isfinite(item):
        raise ValueError("model returned a non-finite prediction")
    return item
