"""Local dev loop options: defaults, validation messages naming the flag."""

from pathlib import Path

import pytest

from devloop.config import DevLoopConfig, DevLoopConfigError, parse_args
from mlops_contract.names import DEFAULT_MODEL_NAME, MLFLOW_PORT, SERVING_METRICS_PORT, SERVING_PORT


def test_defaults_match_the_cluster_ports_and_model_name() -> None:
    cfg = parse_args([])
    assert (cfg.mlflow_port, cfg.serving_port) == (MLFLOW_PORT, SERVING_PORT)
    assert cfg.serving_metrics_port == SERVING_METRICS_PORT != SERVING_PORT
    assert cfg.model_name == DEFAULT_MODEL_NAME
    assert cfg.state_dir == Path(".state/dev").resolve()
    assert cfg.mlflow_url == f"http://127.0.0.1:{MLFLOW_PORT}"


def test_flags_override_defaults() -> None:
    cfg = parse_args(["--serving-port", "8100", "--no-prometheus", "--retrain", "--reload-interval", "0.5"])
    assert cfg == DevLoopConfig(
        state_dir=Path(".state/dev").resolve(),
        serving_port=8100,
        prometheus=False,
        retrain=True,
        reload_interval_seconds=0.5,
    )


@pytest.mark.parametrize("flag", ["--check", "--exit-when-ready"])
def test_check_flag_makes_the_loop_non_interactive(flag: str) -> None:
    assert parse_args([flag]).exit_when_ready
    assert not parse_args([]).exit_when_ready


def test_the_check_posts_the_readme_example() -> None:
    example = parse_args([]).example_request
    assert example.is_file() and example.parts[-2:] == ("examples", "predict.json")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--mlflow-port", "http"], "--mlflow-port"),
        (["--serving-port", "70000"], "--serving-port"),
        (["--reload-interval", "0"], "--reload-interval"),
        (["--mlflow-port", "8000"], "ports must differ"),
        (["--serving-metrics-port", "8000"], "ports must differ"),
        (["--bogus"], "--bogus"),
        (["--inference-log", "1.5"], "--inference-log"),
        (["--drift-share", "2"], "--drift-share"),
        (["--drift-feature-psi", "0.1"], "--drift-feature-psi must be at least --drift-psi"),
    ],
)
def test_bad_flags_name_the_flag(argv: list[str], message: str) -> None:
    with pytest.raises(DevLoopConfigError, match=message):
        parse_args(argv)
