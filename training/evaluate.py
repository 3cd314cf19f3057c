"""Holdout metrics for a fitted classifier."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score


def evaluate(model: Any, x_holdout: pd.DataFrame, y_holdout: pd.Series) -> dict[str, float]:
    """accuracy, precision, recall, F1 (binary, else macro) and ROC AUC (binary, else one-vs-rest macro)."""
    predicted = model.predict(x_holdout)
    classes = np.unique(y_holdout)
    binary = len(classes) == 2
    average = "binary" if binary else "macro"
    # The larger label is the positive class, as roc_auc_score and predict_proba's second column assume;
    # scikit-learn's default (1) does not exist for string labels.
    scoring: dict[str, Any] = {"average": average, "zero_division": 0}
    if binary:
        scoring["pos_label"] = classes[1]
    metrics = {
        "accuracy": float(accuracy_score(y_holdout, predicted)),
        "precision": float(precision_score(y_holdout, predicted, **scoring)),
        "recall": float(recall_score(y_holdout, predicted, **scoring)),
        "f1": float(f1_score(y_holdout, predicted, **scoring)),
    }
    if hasattr(model, "predict_proba"):
        proba = model.predict_proba(x_holdout)
        if binary:
            metrics["roc_auc"] = float(roc_auc_score(y_holdout, proba[:, 1]))
        elif proba.shape[1] == len(classes):
            metrics["roc_auc"] = float(roc_auc_score(y_holdout, proba, multi_class="ovr", average="macro"))
    return metrics
