"""MLmodel parsing and safe estimator loading, on model directories written by MLflow itself (no server)."""

from __future__ import annotations

import os
from pathlib import Path

import mlflow.sklearn
import numpy as np
import pytest
from mlflow.models import infer_signature
from sklearn.datasets import load_iris
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.tree import DecisionTreeClassifier

from mlops_contract.mlmodel import ModelFormatError, load_estimator, parse_mlmodel
from mlops_contract.names import SKOPS_TRUSTED_TYPES
from tests.services.conftest import TinyModel


def save(estimator: object, path: Path, x: object, **kwargs: object) -> Path:
    signature = infer_signature(x, estimator.predict(x))  # type: ignore[attr-defined]
    mlflow.sklearn.save_model(estimator, str(path), signature=signature, **kwargs)
    return path


def test_skops_model_round_trips_with_its_signature(tmp_path: Path, tiny_model: TinyModel) -> None:
    model_dir = save(tiny_model.estimator, tmp_path / "m", tiny_model.features)
    spec = parse_mlmodel((model_dir / "MLmodel").read_text())
    assert spec.input_names == tiny_model.names
    assert spec.signature is not None and set(spec.signature) >= {"inputs", "outputs"}

    estimator = load_estimator((model_dir / spec.model_file).read_bytes())
    rows = tiny_model.features.to_numpy()[:20]
    np.testing.assert_array_equal(estimator.predict(rows), tiny_model.estimator.predict(rows))


def test_tensor_signature_has_no_input_names(tmp_path: Path, tiny_model: TinyModel) -> None:
    x = tiny_model.features.to_numpy()
    model_dir = save(tiny_model.estimator, tmp_path / "m", x)
    assert parse_mlmodel((model_dir / "MLmodel").read_text()).input_names is None


@pytest.mark.parametrize("fmt", ["cloudpickle", "pickle"])
def test_pickle_formats_are_refused_naming_the_format(
    tmp_path: Path, tiny_model: TinyModel, fmt: str
) -> None:
    model_dir = save(tiny_model.estimator, tmp_path / fmt, tiny_model.features, serialization_format=fmt)
    with pytest.raises(ModelFormatError, match=f"serialization_format is '{fmt}'"):
        parse_mlmodel((model_dir / "MLmodel").read_text())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("flavors: {python_function: {}}", r"not a scikit-learn model \(flavors: python_function\)"),
        ("flavors: {sklearn: {serialization_format: skops}}", "pickled_model is missing"),
        (
            "flavors: {sklearn: {serialization_format: skops, pickled_model: ../../etc/passwd}}",
            "not a plain path",
        ),
        ("- a list", "not a mapping"),
        ("flavors: [unclosed", "not valid YAML"),
    ],
)
def test_malformed_mlmodel_names_the_problem(text: str, message: str) -> None:
    with pytest.raises(ModelFormatError, match=message):
        parse_mlmodel(text)


def test_tree_models_need_the_platform_trusted_types(tmp_path: Path) -> None:
    data = load_iris(as_frame=True)
    tree = DecisionTreeClassifier(max_depth=2).fit(data.data, data.target)
    model_dir = save(tree, tmp_path / "tree", data.data, skops_trusted_types=list(SKOPS_TRUSTED_TYPES))
    blob = (model_dir / parse_mlmodel((model_dir / "MLmodel").read_text()).model_file).read_bytes()

    with pytest.raises(ModelFormatError, match=r"sklearn\.tree\._tree\.Tree.*MLOPS_TRUSTED_TYPES"):
        load_estimator(blob)
    loaded = load_estimator(blob, SKOPS_TRUSTED_TYPES)
    np.testing.assert_array_equal(loaded.predict(data.data.to_numpy()), tree.predict(data.data))


def test_a_model_that_trusts_a_dangerous_type_itself_is_still_refused(tmp_path: Path) -> None:
    """The model's own skops_trusted_types entry is ignored: only the operator's allow-list counts."""
    hostile = make_pipeline(FunctionTransformer(os.system), DecisionTreeClassifier())  # never fitted or run
    model_dir = tmp_path / "hostile"
    mlflow.sklearn.save_model(
        hostile, str(model_dir), skops_trusted_types=["posix.system", *SKOPS_TRUSTED_TYPES]
    )
    spec = parse_mlmodel((model_dir / "MLmodel").read_text())
    with pytest.raises(ModelFormatError, match=r"posix\.system"):
        load_estimator((model_dir / spec.model_file).read_bytes(), SKOPS_TRUSTED_TYPES)
