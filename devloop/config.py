"""Typed options for the local dev loop, read once from the command line."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mlops_contract.names import DEFAULT_MODEL_NAME, MLFLOW_PORT, SERVING_METRICS_PORT, SERVING_PORT
from monitoring.thresholds import Thresholds

# The README's curl example; found next to the package so the check does not depend on the working directory.
EXAMPLE_REQUEST = Path(__file__).resolve().parents[1] / "examples" / "predict.json"


class DevLoopConfigError(ValueError):
    """A bad option; the message names it."""


@dataclass(frozen=True)
class DevLoopConfig:
    """Where the local platform keeps state, which ports it binds, and what it trains."""

    state_dir: Path = Path(".state/dev")
    host: str = "127.0.0.1"
    mlflow_port: int = MLFLOW_PORT
    serving_port: int = SERVING_PORT
    serving_metrics_port: int = SERVING_METRICS_PORT
    prometheus_port: int = 9090
    alertmanager_port: int = 9093
    trigger_port: int = 8080
    model_name: str = DEFAULT_MODEL_NAME
    dataset: str = "breast_cancer"
    """Training data URI (docs/training.md): a bundled name, a CSV file, a snapshot directory or a URL."""
    target_column: str | None = None
    feedback_dir: Path | None = None
    """An inference log directory whose labelled requests retraining learns from."""
    prometheus: bool = True
    retrain: bool = False
    reload_interval_seconds: float = 5.0
    example_request: Path = EXAMPLE_REQUEST
    exit_when_ready: bool = False
    inference_log_sample_rate: float = 0.0
    """Share of predictions logged to `<state_dir>/inference-log` (0: the log is off)."""
    drift_psi: float = Thresholds.drift_psi
    drift_share: float = Thresholds.drift_share
    drift_feature_psi: float = Thresholds.drift_feature_psi

    @property
    def inference_log_dir(self) -> Path | None:
        """Where serving writes the inference log, or None when it is off."""
        return self.state_dir / "inference-log" if self.inference_log_sample_rate > 0 else None

    @property
    def mlflow_url(self) -> str:
        """Tracking URI."""
        return f"http://{self.host}:{self.mlflow_port}"

    @property
    def serving_url(self) -> str:
        """Serving base URL."""
        return f"http://{self.host}:{self.serving_port}"

    @property
    def prometheus_url(self) -> str:
        """Prometheus base URL."""
        return f"http://{self.host}:{self.prometheus_port}"


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is outside 1-65535")
    return port


def _positive_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"{number} must be > 0")
    return number


def _fraction(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not 0 <= number <= 1:
        raise argparse.ArgumentTypeError(f"{number} must be between 0 and 1")
    return number


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse would print usage and exit; we want one line the caller can show.
        raise DevLoopConfigError(message)


def build_parser() -> argparse.ArgumentParser:
    """The `python -m devloop` command line."""
    d = DevLoopConfig()
    parser = _Parser(
        prog="python -m devloop",
        description="Run the platform locally: MLflow, a bootstrap training run, serving, Prometheus.",
    )
    parser.add_argument(
        "--state-dir", type=Path, default=d.state_dir, help="where MLflow keeps its DB/artifacts"
    )
    parser.add_argument("--mlflow-port", type=_port, default=d.mlflow_port)
    parser.add_argument("--serving-port", type=_port, default=d.serving_port)
    parser.add_argument(
        "--serving-metrics-port", type=_port, default=d.serving_metrics_port, help="serving's /metrics"
    )
    parser.add_argument("--prometheus-port", type=_port, default=d.prometheus_port)
    parser.add_argument("--alertmanager-port", type=_port, default=d.alertmanager_port)
    parser.add_argument("--trigger-port", type=_port, default=d.trigger_port, help="retrain trigger port")
    parser.add_argument("--model-name", default=d.model_name, help="registered model name")
    parser.add_argument(
        "--dataset",
        default=d.dataset,
        help="training data URI: sklearn name, CSV file, snapshot directory (newest wins) or http(s) URL",
    )
    parser.add_argument("--target-column", help="label column of a CSV dataset")
    parser.add_argument(
        "--feedback-dir",
        type=Path,
        help="inference log directory: retraining learns from its labelled requests",
    )
    parser.add_argument("--no-prometheus", action="store_true", help="do not start Prometheus")
    parser.add_argument("--retrain", action="store_true", help="train even if a champion already exists")
    parser.add_argument(
        "--reload-interval",
        type=_positive_float,
        default=d.reload_interval_seconds,
        help="seconds between serving's checks of the champion alias",
    )
    parser.add_argument(
        "--inference-log",
        dest="inference_log_sample_rate",
        type=_fraction,
        default=d.inference_log_sample_rate,
        metavar="RATE",
        help="log this share of predictions (0-1) to <state-dir>/inference-log and accept /v1/feedback",
    )
    parser.add_argument(
        "--drift-psi", type=_positive_float, default=d.drift_psi, help="PSI above which a feature drifted"
    )
    parser.add_argument(
        "--drift-share",
        type=_fraction,
        default=d.drift_share,
        help="DatasetDrift fires when this share of the features drifted",
    )
    parser.add_argument(
        "--drift-feature-psi",
        type=_positive_float,
        default=d.drift_feature_psi,
        help="FeatureDrift fires when any one feature's PSI is above this",
    )
    parser.add_argument(
        "--check",
        "--exit-when-ready",
        dest="exit_when_ready",
        action="store_true",
        help="non-interactive (CI): exit 0 once the README's curl example has returned predictions",
    )
    return parser


def parse_args(argv: Sequence[str]) -> DevLoopConfig:
    """Parse flags into a DevLoopConfig; DevLoopConfigError names the bad flag."""
    ns = build_parser().parse_args(list(argv))
    ports = {
        "--mlflow-port": ns.mlflow_port,
        "--serving-port": ns.serving_port,
        "--serving-metrics-port": ns.serving_metrics_port,
    }
    if not ns.no_prometheus:
        ports["--prometheus-port"] = ns.prometheus_port
        ports["--alertmanager-port"] = ns.alertmanager_port
        ports["--trigger-port"] = ns.trigger_port
    if ns.drift_feature_psi < ns.drift_psi:
        raise DevLoopConfigError(
            "--drift-feature-psi must be at least --drift-psi (it is the single-feature bar)"
        )
    if len(set(ports.values())) != len(ports):
        raise DevLoopConfigError(f"ports must differ: {ports}")
    return DevLoopConfig(
        state_dir=ns.state_dir.resolve(),
        mlflow_port=ns.mlflow_port,
        serving_port=ns.serving_port,
        serving_metrics_port=ns.serving_metrics_port,
        prometheus_port=ns.prometheus_port,
        alertmanager_port=ns.alertmanager_port,
        trigger_port=ns.trigger_port,
        model_name=ns.model_name,
        dataset=ns.dataset,
        target_column=ns.target_column,
        feedback_dir=None if ns.feedback_dir is None else ns.feedback_dir.resolve(),
        prometheus=not ns.no_prometheus,
        retrain=ns.retrain,
        reload_interval_seconds=ns.reload_interval,
        exit_when_ready=ns.exit_when_ready,
        inference_log_sample_rate=ns.inference_log_sample_rate,
        drift_psi=ns.drift_psi,
        drift_share=ns.drift_share,
        drift_feature_psi=ns.drift_feature_psi,
    )
