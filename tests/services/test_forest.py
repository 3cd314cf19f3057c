"""The forest fast path gives scikit-learn's own probabilities, bit for bit, and only where it applies."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from services.serving.forest import fast_predict_proba
from services.serving.model import LoadedModel, VersionRef


@pytest.mark.parametrize("forest_class", [RandomForestClassifier, ExtraTreesClassifier])
@pytest.mark.parametrize("dataset", [load_breast_cancer, load_iris], ids=["binary", "three-class"])
@pytest.mark.parametrize("piped", [True, False], ids=["pipeline", "bare"])
def test_equal_to_scikit_learn_bit_for_bit(forest_class: type, dataset, piped: bool) -> None:
    x, y = dataset(return_X_y=True)
    forest = forest_class(n_estimators=25, random_state=0)
    model = make_pipeline(StandardScaler(), forest) if piped else forest
    model.fit(x, y)
    fast = fast_predict_proba(model)
    assert fast is not None
    for rows in (x[:1], x[:17], np.asfortranarray(x), x[::-1] * 1.5):
        assert np.array_equal(fast(rows), model.predict_proba(rows))


def test_other_estimators_keep_their_own_predict_proba() -> None:
    x, y = load_iris(return_X_y=True)
    assert fast_predict_proba(make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y)) is None
    assert fast_predict_proba(RandomForestClassifier(n_estimators=3)) is None  # not fitted

    class Tweaked(RandomForestClassifier):
        """A subclass may predict differently: not taken."""

    assert fast_predict_proba(Tweaked(n_estimators=3).fit(x, y)) is None
    multi = RandomForestClassifier(n_estimators=3).fit(x, np.column_stack([y, y]))
    assert fast_predict_proba(multi) is None


def test_a_loaded_forest_predicts_through_the_fast_path() -> None:
    x, y = load_breast_cancer(return_X_y=True)
    model = make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=10, random_state=0)).fit(x, y)
    ref = VersionRef(name="m", version="1", alias="champion", run_id="r", created_at=0.0)
    loaded = LoadedModel(
        ref=ref, estimator=model, feature_names=tuple(f"f{i}" for i in range(30)), loaded_at=0
    )
    assert loaded._proba_fn is not None and loaded._proba_fn != model.predict_proba
    labels, proba = loaded.predict(x[:5])
    assert labels == model.predict(x[:5]).tolist()
    assert proba == model.predict_proba(x[:5]).tolist()
