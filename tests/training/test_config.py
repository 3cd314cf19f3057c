"""TrainConfig: flags over env over defaults; every bad value is a ConfigError naming its key."""

import pytest

from mlops_contract.names import DEFAULT_MODEL_NAME, Env
from training.config import ConfigError, GateMetric, ModelKind, Strictness, TrainConfig

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
        (
            [],
            {Env.TRACKING_URI: URI, Env.VALIDATION: "paranoid"},
            "--validation/MLOPS_VALIDATION: invalid value 'paranoid' .*strict, standard, lenient",
        ),
        (["--min-rows-per-class", "1"], {Env.TRACKING_URI: URI}, "--min-rows-per-class: must be >= 2"),
        (
            [],
            {Env.TRACKING_URI: URI, Env.HTTP_REQUEST_TIMEOUT: "0"},
            "--request-timeout/MLFLOW_HTTP_REQUEST_TIMEOUT: must be >= 1",
        ),
        (["--request-retries", "50"], {Env.TRACKING_URI: URI}, "--request-retries/.*between 0 and 10"),
        (["--baseline-margin", "x"], {Env.TRACKING_URI: URI}, "--baseline-margin/.*invalid value 'x'"),
    ],
)
def test_bad_values_name_the_key(argv: list[str], env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TrainConfig.from_sources(argv, env)


def test_reliability_options_from_flags_and_mlflow_env() -> None:
    env = {
        Env.TRACKING_URI: URI,
        Env.VALIDATION: "strict",
        Env.HTTP_REQUEST_TIMEOUT: "7",
        Env.HTTP_REQUEST_MAX_RETRIES: "1",
        Env.EVAL_DATASET: "breast_cancer",
    }
    cfg = TrainConfig.from_sources(["--baseline-margin", "0.1", "--lock-wait", "9"], env)
    assert cfg.validation is Strictness.STRICT
    assert (cfg.request_timeout_seconds, cfg.request_max_retries) == (7, 1)
    assert (cfg.baseline_margin, cfg.lock_wait_seconds, cfg.eval_dataset) == (0.1, 9.0, "breast_cancer")
