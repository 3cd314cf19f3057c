"""Local dev loop options: defaults, validation messages naming the flag."""

from pathlib import Path

import pytest

from devloop.config import DEMO_STATE_ROOT, DevLoopConfig, DevLoopConfigError, DriftDemo, parse_args
from devloop.local_platform import serving_env, training_env
from mlops_contract.names import DEFAULT_MODEL_NAME, MLFLOW_PORT, SERVING_METRICS_PORT, SERVING_PORT, Env


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


def test_the_drift_demo_turns_the_log_on_and_gets_its_own_fresh_state_dir() -> None:
    cfg = parse_args(["--demo-drift"])
    assert cfg.demo_drift is DriftDemo.ADAPT
    assert cfg.inference_log_sample_rate == 1.0
    assert cfg.state_dir.parent == DEMO_STATE_ROOT.resolve()
    assert cfg.training_feedback_dir == cfg.inference_log_dir == cfg.state_dir / "inference-log"
    assert parse_args(["--demo-drift", "control"]).demo_drift is DriftDemo.CONTROL
    # A state dir given explicitly is used as it is; a sampled log is accepted (unlogged ids get no feedback).
    explicit = parse_args(["--demo-drift", "--state-dir", "/tmp/demo", "--inference-log", "0.5"])
    assert explicit.state_dir == Path("/tmp/demo") and explicit.inference_log_sample_rate == 0.5
    assert parse_args([]).demo_drift is None and parse_args([]).inference_log_sample_rate == 0.0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--demo-drift", "--no-prometheus"], "drop --no-prometheus"),
        (["--demo-drift", "--inference-log", "0"], "--inference-log must be above 0"),
        (["--demo-drift", "--dataset", "wine"], "drop --dataset"),
        (["--demo-drift", "sideways"], "--demo-drift"),
    ],
)
def test_the_drift_demo_refuses_what_it_cannot_run_with(argv: list[str], message: str) -> None:
    with pytest.raises(DevLoopConfigError, match=message):
        parse_args(argv)


def test_retraining_learns_from_the_platforms_own_inference_log_unless_told_otherwise() -> None:
    logged = parse_args(["--inference-log", "0.2", "--feedback-weight", "3", "--feedback-window-hours", "2"])
    env = training_env(logged)
    assert env[Env.INFERENCE_LOG_DIR] == str(logged.state_dir / "inference-log")
    assert (env[Env.FEEDBACK_WEIGHT], env[Env.FEEDBACK_WINDOW_HOURS]) == ("3.0", "2.0")
    assert serving_env(logged)[Env.INFERENCE_LOG_DIR] == env[Env.INFERENCE_LOG_DIR]
    assert serving_env(logged)[Env.INFERENCE_LOG_ROTATE_SECONDS] == "10.0"
    other = parse_args(["--inference-log", "0.2", "--feedback-dir", "/srv/log"])
    assert training_env(other)[Env.INFERENCE_LOG_DIR] == "/srv/log"
    # No log, no feedback dir: training reads the dataset alone, with its own defaults.
    plain = training_env(parse_args([]))
    assert Env.INFERENCE_LOG_DIR not in plain and Env.FEEDBACK_WEIGHT not in plain
