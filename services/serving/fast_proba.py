"""predict_proba equal to scikit-learn's, bit for bit, without its per-call overhead, for what training makes.

scikit-learn checks and converts its input in every call, per estimator: `validate_data`, array-namespace
and dataframe detection, tags, `check_is_fitted`. For one row of a scaler-plus-logistic-regression pipeline
that is about 500 us (measured, scikit-learn 1.9), where the arithmetic is a few microseconds; for a 100-tree
forest it is 11 ms, each tree going through joblib, a config context and warning filters. It holds the GIL,
so the event loop waits too. The request path has already checked its input (a finite float64 matrix with
the signature's columns), so here the arithmetic runs alone, in scikit-learn's own order and operations:
- StandardScaler: a copy of the input, minus the mean, divided by the scale.
- LogisticRegression: the input times the transposed coefficients plus the intercept, then the logistic
  function (two classes) or softmax (more), as `predict_proba` does.
- Random forest and extra trees (single output): the trees' leaf fractions summed in estimator order, on
  scikit-learn's own float32 conversion, divided by the tree count; small batches walk every tree at once.
Only these exact classes (a subclass may compute differently), fitted, dense. A pipeline step of any other
kind keeps its own `transform`; any other final estimator keeps its own `predict_proba` (None here). Equality
is tested against the installed scikit-learn on binary and three-class data, C- and F-ordered input.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.special import expit
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.extmath import softmax

Matrix = npt.NDArray[np.float64]
WALK_MAX_ROWS = 32
"""Largest batch a forest walks all trees at once for (measured on 100 trees: 126 us against 441 for one row,
526 against 860 for 32; from about 50 rows the tree-by-tree traversal is faster)."""
ProbaFn = Callable[[Matrix], Matrix]
Transform = Callable[[Any], Any]


def fast_predict_proba(estimator: Any) -> ProbaFn | None:
    """A predict_proba equal to the estimator's own, if its final step is one of the above; None otherwise."""
    steps = [step for _, step in estimator.steps] if isinstance(estimator, Pipeline) else [estimator]
    if any(step is None or step == "passthrough" for step in steps):
        return None  # Pipeline semantics for these are its own; rare, so not repeated here
    final = _final(steps[-1])
    if final is None:
        return None
    transforms = [_transform(step) for step in steps[:-1]]

    def predict_proba(matrix: Matrix) -> Matrix:
        features: Any = matrix
        for transform in transforms:
            features = transform(features)
        return final(features)

    return predict_proba


def _transform(step: Any) -> Transform:
    """The step's transform: the scaler's arithmetic, or the step's own method."""
    if type(step) is StandardScaler and hasattr(step, "n_features_in_"):
        return _scaler(step)
    return step.transform  # type: ignore[no-any-return]


def _final(step: Any) -> ProbaFn | None:
    if type(step) is LogisticRegression and isinstance(getattr(step, "coef_", None), np.ndarray):
        return _logistic(step)
    forest = type(step) in (RandomForestClassifier, ExtraTreesClassifier)
    if forest and getattr(step, "n_outputs_", None) == 1 and getattr(step, "estimators_", None):
        return _forest(step)
    return None


def _scaler(scaler: StandardScaler) -> Transform:
    n_features = int(scaler.n_features_in_)
    mean = scaler.mean_ if scaler.with_mean else None
    scale = scaler.scale_ if scaler.with_std else None

    def transform(matrix: Any) -> Any:
        if not isinstance(matrix, np.ndarray) or matrix.dtype != np.float64:
            return scaler.transform(matrix)  # its own dtype rules (float32 stays float32, sparse...)
        _check_features(matrix, n_features, scaler)
        scaled = np.array(matrix, copy=True)  # memory order kept ("K"), as scikit-learn's copy does
        if mean is not None:
            scaled -= mean
        if scale is not None:
            scaled /= scale
        return scaled

    return transform


def _logistic(model: LogisticRegression) -> ProbaFn:
    n_features = int(model.n_features_in_)
    coef_t = model.coef_.T
    intercept = model.intercept_
    binary = np.size(model.classes_) <= 2

    def predict_proba(matrix: Any) -> Matrix:
        if not isinstance(matrix, np.ndarray) or matrix.dtype != np.float64:
            return model.predict_proba(matrix)  # type: ignore[no-any-return]
        _check_features(matrix, n_features, model)
        if not np.isfinite(matrix).all():
            raise ValueError("Input X contains NaN or infinity.")  # as scikit-learn's input check says
        scores = matrix @ coef_t + intercept
        if scores.ndim > 1 and scores.shape[1] == 1:
            scores = scores.reshape(-1)
        if binary:
            positive = expit(scores, out=scores)
            return np.stack([1 - positive, positive], axis=1)
        return softmax(scores, copy=False)  # type: ignore[no-any-return]

    return predict_proba


def _forest(forest: RandomForestClassifier | ExtraTreesClassifier) -> ProbaFn:
    trees = [tree.tree_ for tree in forest.estimators_]
    n_classes = int(forest.n_classes_)
    walk = _ForestWalk(trees, n_classes)

    def predict_proba(matrix: Any) -> Matrix:
        # scikit-learn's own conversion and checks (float32, feature count).
        x = forest._validate_X_predict(matrix)
        if isinstance(x, np.ndarray) and x.shape[0] <= WALK_MAX_ROWS and not np.isnan(x).any():
            return walk.proba(x)
        # Larger batches: scikit-learn's own traversal, tree by tree (without the GIL, and its cost grows
        # slower with rows). Missing values too: they take each node's learned side.
        proba = np.zeros((x.shape[0], n_classes), dtype=np.float64)
        for tree in trees:  # in estimator order, as scikit-learn's sequential backend adds them
            proba += tree.predict(x)[:, :n_classes]
        proba /= len(trees)
        return proba

    return predict_proba


class _ForestWalk:
    """Every tree's nodes in one set of arrays, walked for all trees and rows at once, a level per step.

    scikit-learn's per-tree `predict` hands the GIL back and forth once per tree (its traversal runs without
    it): under load the event loop holds it, and a 100-tree forest waited on every one. Here a batch is
    max_depth steps of a few array operations. Leaves point to themselves, so a row that reached its leaf
    stays there while deeper trees finish. Node i goes left when x[feature] <= threshold, with the float32
    input compared in float64, as scikit-learn's traversal does; the leaves' values are summed in estimator
    order (a cumulative sum, which adds in sequence), then divided by the tree count.
    """

    def __init__(self, trees: list[Any], n_classes: int) -> None:
        offsets = np.cumsum([0] + [t.node_count for t in trees[:-1]])
        self.roots = offsets.astype(np.intp)[:, None]
        self.depth = max(t.max_depth for t in trees)
        self.n_trees = len(trees)
        left, right, feature, threshold, values = [], [], [], [], []
        for tree, offset in zip(trees, offsets, strict=True):
            nodes = np.arange(tree.node_count) + offset
            leaf = tree.children_left == -1  # scikit-learn's TREE_LEAF
            left.append(np.where(leaf, nodes, tree.children_left + offset))
            right.append(np.where(leaf, nodes, tree.children_right + offset))
            feature.append(np.where(leaf, 0, tree.feature))
            threshold.append(tree.threshold)
            values.append(tree.value[:, 0, :n_classes])
        self.left = np.concatenate(left).astype(np.intp)
        self.right = np.concatenate(right).astype(np.intp)
        self.feature = np.concatenate(feature).astype(np.intp)
        self.threshold = np.concatenate(threshold)
        self.values = np.concatenate(values)

    def proba(self, x: npt.NDArray[np.float32]) -> Matrix:
        rows = np.arange(x.shape[0])[None, :]
        node = np.repeat(self.roots, x.shape[0], axis=1)  # (trees, rows)
        for _ in range(self.depth):
            goes_left = x[rows, self.feature[node]] <= self.threshold[node]
            node = np.where(goes_left, self.left[node], self.right[node])
        leaves = self.values[node]  # (trees, rows, classes)
        proba: Matrix = np.cumsum(leaves, axis=0)[-1]
        proba /= self.n_trees
        return proba


def _check_features(matrix: Matrix, expected: int, step: Any) -> None:
    """scikit-learn's feature-count check, with its wording (a ValueError: the request is refused)."""
    if matrix.ndim != 2 or matrix.shape[1] != expected:
        got = matrix.shape[1] if matrix.ndim == 2 else f"shape {matrix.shape}"
        name = type(step).__name__
        raise ValueError(f"X has {got} features, but {name} is expecting {expected} features as input.")
