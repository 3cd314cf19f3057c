"""Random-forest probabilities without scikit-learn's per-tree dispatch: the same sum, a tenth of the time.

`ForestClassifier.predict_proba` runs every tree through joblib, a config context, warning filters and input
checks: for a 100-tree forest that overhead is 11 ms even for one row (measured), and it holds the GIL, so the
event loop waits too. The arithmetic is a sum of each tree's leaf fractions divided by the tree count; done
here in the same order, on the same float32 input, it gives bit-identical probabilities (tested against
scikit-learn) in about 2 ms. Anything but a single-output forest classifier (optionally at the end
of a Pipeline) keeps scikit-learn's own `predict_proba`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
from sklearn.pipeline import Pipeline

ProbaFn = Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]]


def fast_predict_proba(estimator: Any) -> ProbaFn | None:
    """A predict_proba equal to the estimator's own, if it ends in a single-output forest; None otherwise."""
    head = estimator[:-1] if isinstance(estimator, Pipeline) and len(estimator) > 1 else None
    forest = estimator[-1] if isinstance(estimator, Pipeline) else estimator
    # Exact classes, not subclasses: a subclass may predict differently.
    if type(forest) not in (RandomForestClassifier, ExtraTreesClassifier):
        return None
    if getattr(forest, "n_outputs_", None) != 1 or not getattr(forest, "estimators_", None):
        return None
    trees = [tree.tree_ for tree in forest.estimators_]
    n_classes = int(forest.n_classes_)

    def predict_proba(matrix: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        features = head.transform(matrix) if head is not None else matrix
        # scikit-learn's own conversion and checks (float32, feature count), once instead of per tree.
        x = forest._validate_X_predict(features)
        proba = np.zeros((x.shape[0], n_classes), dtype=np.float64)
        for tree in trees:  # in estimator order, as scikit-learn's sequential backend adds them
            proba += tree.predict(x)[:, :n_classes]
        proba /= len(trees)
        return proba

    return predict_proba
