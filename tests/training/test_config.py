"""TrainConfig: flags over env over defaults; every bad value is a ConfigError naming its key."""

import pytest

from mlops_contract.names import DEFAULT_MODEL_NAME, Env
from training.config import ConfigError, GateMetric, ModelKind, TrainConfig

URI = "http://127.0.0.1:5000"


def test_defaults_need_only_a_tracking_uri() -> None:
    cfg = TrainConfig.from_sources([], {Env.TRACKING_URI: URI})
    assert cfg.tracking_uri == URI
    assert cfg.model_name == DEFAULT_MODEL_NAME
    assert cfg.dataset == "breast_cancer"
    assert cfg.model is ModelKind.LOGISTIC_REGRESSION
    assert cfg.gate_metric is GateMetric.F1


def test_flags_win_over_environment() -> None:
    env = {Env.TRACKING_URI: URI, Env.MODEL_NAME: "from-env", Env.PROMOTION_FLOOR: "0.5"}
    cfg = TrainConfig.from_sources(
        ["--model-name", "from-flag", "--model", "random_forest", "--max-depth", "3"], env
    )
    assert cfg.model_name == "from-flag"
    assert cfg.promotion_floor == 0.5
    assert (cfg.model, cfg.max_depth) == (ModelKind.RANDOM_FOREST, 3)


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        ([], {}, "--tracking-uri/MLFLOW_TRACKING_URI: is required"),
        (["--model", "svm"], {Env.TRACKING_URI: URI}, "--model: invalid value 'svm' .*logistic_regression"),
        (["--gate-metric", "mse"], {Env.TRACKING_URI: URI}, "--gate-metric: invalid value 'mse'"),
        (["--test-size", "1.5"], {Env.TRACKING_URI: URI}, "--test-size: must be between 0 and 1"),
        (
            [],
            {Env.TRACKING_URI: URI, Env.PROMOTION_MARGIN: "lots"},
            "MLOPS_PROMOTION_MARGIN: invalid value 'lots'",
        ),
        (
            [],
            {Env.TRACKING_URI: URI, Env.PROMOTION_FLOOR: "2"},
            "MLOPS_PROMOTION_FLOOR: must be between 0 and 1",
        ),
        (["--C", "0"], {Env.TRACKING_URI: URI}, "--C: must be > 0"),
        (["--C", "nan"], {Env.TRACKING_URI: URI}, "--C: invalid value 'nan'"),
        (["--n-estimators", "x"], {Env.TRACKING_URI: URI}, "--n-estimators: invalid value 'x' .*an integer"),
        (["--unknown-flag"], {Env.TRACKING_URI: URI}, "--unknown-flag"),
    ],
)
def test_bad_values_name_the_key(argv: list[str], env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TrainConfig.from_sources(argv, env)
