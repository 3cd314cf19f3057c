"""The fast path gives scikit-learn's own probabilities, bit for bit, and only where it applies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_digits, load_iris
from sklearn.ensemble import ExtraTreesClassifier, GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from services.serving.fast_proba import WALK_MAX_ROWS, fast_predict_proba
from services.serving.model import LoadedModel, VersionRef

DATASETS = [load_breast_cancer, load_iris]
FINALS: list[Callable[[], Any]] = [
    lambda: LogisticRegression(max_iter=1000),
    lambda: RandomForestClassifier(n_estimators=25, random_state=0),
    lambda: ExtraTreesClassifier(n_estimators=25, random_state=0),
]
HEADS: list[Callable[[], list[Any]]] = [
    list,  # bare estimator
    lambda: [StandardScaler()],
    lambda: [StandardScaler(with_mean=False)],
    lambda: [MinMaxScaler(), StandardScaler(with_std=False)],  # a step without a fast path keeps its own
]


def _inputs(x: np.ndarray) -> list[np.ndarray]:
    """Both forest traversals (up to WALK_MAX_ROWS rows, and more), F-ordered, mirrored, out of range."""
    return [
        x[:1],
        x[:WALK_MAX_ROWS],
        x[: WALK_MAX_ROWS + 1],
        np.asfortranarray(x),
        x[::-1] * 1.5,
        x[:5] * 1e6,
    ]


@pytest.mark.parametrize("final", FINALS, ids=["logistic", "forest", "extra-trees"])
@pytest.mark.parametrize("head", HEADS, ids=["bare", "scaled", "scaled-no-mean", "minmax-then-centred"])
@pytest.mark.parametrize("dataset", DATASETS, ids=["binary", "three-class"])
def test_equal_to_scikit_learn_bit_for_bit(
    final: Callable[[], Any], head: Callable[[], list[Any]], dataset: Callable[..., Any]
) -> None:
    x, y = dataset(return_X_y=True)
    steps = [*head(), final()]
    model = make_pipeline(*steps) if len(steps) > 1 else steps[0]
    model.fit(x, y)
    fast = fast_predict_proba(model)
    assert fast is not None
    for rows in _inputs(x):
        assert np.array_equal(fast(rows), model.predict_proba(rows))


def test_refuses_what_scikit_learn_refuses_and_answers_the_rest_alike() -> None:
    """The batcher turns a ValueError into a refused request: the fast path raises one where scikit-learn
    does (a wrong feature count; NaN for the logistic regression), and answers alike where it does not
    (forests take NaN)."""
    x, y = load_breast_cancer(return_X_y=True)
    for model in (
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x, y),
        LogisticRegression(max_iter=5000).fit(x, y),
        make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=3)).fit(x, y),
    ):
        fast = fast_predict_proba(model)
        assert fast is not None
        for bad in (x[:2, :29], np.where(np.arange(30) == 3, np.nan, x[:1])):
            try:
                expected = model.predict_proba(bad)
            except ValueError:
                with pytest.raises(ValueError, match=r"features|NaN"):
                    fast(bad)
            else:
                assert np.array_equal(fast(bad), expected, equal_nan=True)


def test_other_estimators_keep_their_own_predict_proba() -> None:
    x, y = load_iris(return_X_y=True)
    assert fast_predict_proba(make_pipeline(StandardScaler(), GradientBoostingClassifier()).fit(x, y)) is None
    assert fast_predict_proba(RandomForestClassifier(n_estimators=3)) is None  # not fitted
    assert fast_predict_proba(LogisticRegression()) is None  # not fitted
    passthrough = Pipeline([("skip", "passthrough"), ("lr", LogisticRegression())]).fit(x, y)
    assert fast_predict_proba(passthrough) is None

    class Tweaked(RandomForestClassifier):
        """A subclass may predict differently: not taken."""

    class TweakedLogistic(LogisticRegression):
        """Likewise."""

    assert fast_predict_proba(Tweaked(n_estimators=3).fit(x, y)) is None
    assert fast_predict_proba(TweakedLogistic().fit(x, y)) is None
    multi = RandomForestClassifier(n_estimators=3).fit(x, np.column_stack([y, y]))
    assert fast_predict_proba(multi) is None


@pytest.mark.parametrize(
    "final", [lambda: LogisticRegression(max_iter=1000), lambda: RandomForestClassifier(n_estimators=10)]
)
def test_a_loaded_model_predicts_through_the_fast_path(final: Callable[[], Any]) -> None:
    x, y = load_breast_cancer(return_X_y=True)
    model = make_pipeline(StandardScaler(), final()).fit(x, y)
    ref = VersionRef(name="m", version="1", alias="champion", run_id="r", created_at=0.0)
    loaded = LoadedModel(
        ref=ref, estimator=model, feature_names=tuple(f"f{i}" for i in range(30)), loaded_at=0
    )
    assert loaded._proba_fn is not None and loaded._proba_fn != model.predict_proba
    labels, proba = loaded.predict(x[:5])
    assert labels == model.predict(x[:5]).tolist()
    assert proba == model.predict_proba(x[:5]).tolist()


@pytest.mark.parametrize("forest_class", [RandomForestClassifier, ExtraTreesClassifier])
def test_a_value_equal_to_a_threshold_goes_left_as_in_scikit_learn(forest_class: type) -> None:
    """Digits' pixels are integers, so a random forest's thresholds are k + 0.5, exact in float32: inputs of
    k + 0.5 meet them exactly (the comparison is <=). Ten classes, too."""
    x, y = load_digits(return_X_y=True)
    forest = forest_class(n_estimators=20, random_state=0).fit(x, y)
    fast = fast_predict_proba(forest)
    assert fast is not None
    on_thresholds = np.clip(x[:WALK_MAX_ROWS] + 0.5, 0, 16)
    assert np.array_equal(fast(on_thresholds), forest.predict_proba(on_thresholds))
