"""Typed options for the local dev loop, read once from the command line."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from mlops_contract.names import DEFAULT_MODEL_NAME, MLFLOW_PORT, SERVING_METRICS_PORT, SERVING_PORT
from monitoring.thresholds import Thresholds

# The README's curl example; found next to the package so the check does not depend on the working directory.
EXAMPLE_REQUEST = Path(__file__).resolve().parents[1] / "examples" / "predict.json"
# Where each `--demo-drift` run gets its own state directory.
DEMO_STATE_ROOT = Path(".state/demo-drift")


class DevLoopConfigError(ValueError):
    """A bad option; the message names it."""


class DriftDemo(StrEnum):
    """What `--demo-drift` runs once the platform is up (devloop/adaptation.py)."""

    ADAPT = "adapt"
    """Shift one feature and the labels: alert -> one retraining -> promotion -> reload -> recovery."""
    CONTROL = "control"
    """The same traffic without the shift: no alert, no retraining."""


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
    """An inference log directory whose labelled requests retraining learns from (default: the platform's own
    inference log when it is on, as in the cluster where the retraining Job mounts the log volume)."""
    feedback_window_hours: float | None = None
    """Labelled traffic of the last N hours joins retraining (None: training's default)."""
    feedback_weight: float | None = None
    """Sample weight of a labelled-traffic row (None: training's default)."""
    prometheus: bool = True
    retrain: bool = False
    reload_interval_seconds: float = 5.0
    example_request: Path = EXAMPLE_REQUEST
    exit_when_ready: bool = False
    inference_log_sample_rate: float = 0.0
    """Share of predictions logged to `<state_dir>/inference-log` (0: the log is off)."""
    inference_log_rotate_seconds: float = 10.0
    """Serving publishes its open log files this often; readers skip unpublished ones, so this is how stale
    the traffic a drift-triggered retraining sees may be (serving's own default, 60 s, suits the cluster)."""
    demo_drift: DriftDemo | None = None
    """Run this demo once the platform is ready (devloop/adaptation.py)."""
    drift_psi: float = Thresholds.drift_psi
    drift_share: float = Thresholds.drift_share
    drift_feature_psi: float = Thresholds.drift_feature_psi

    @property
    def inference_log_dir(self) -> Path | None:
        """Where serving writes the inference log, or None when it is off."""
        return self.state_dir / "inference-log" if self.inference_log_sample_rate > 0 else None

    @property
    def training_feedback_dir(self) -> Path | None:
        """The labelled traffic retraining reads: --feedback-dir, else the platform's own inference log."""
        return self.feedback_dir if self.feedback_dir is not None else self.inference_log_dir

    @property
    def trigger_url(self) -> str:
        """Retrain trigger base URL."""
        return f"http://{self.host}:{self.trigger_port}"

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
        "--state-dir",
        type=Path,
        help=f"where MLflow keeps its DB/artifacts (default {d.state_dir}; --demo-drift: a new "
        f"{DEMO_STATE_ROOT}/<time>)",
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
        help="inference log directory retraining learns from (default: the platform's own inference log)",
    )
    parser.add_argument(
        "--feedback-window-hours",
        type=_positive_float,
        help="retraining learns from labelled traffic of the last N hours (training's default: 168)",
    )
    parser.add_argument(
        "--feedback-weight",
        type=_positive_float,
        help="sample weight of a labelled-traffic row in retraining (training's default: 1.0)",
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
        metavar="RATE",
        help="log this share of predictions (0-1) to <state-dir>/inference-log and accept /v1/feedback "
        "(default 0: off; --demo-drift: 1)",
    )
    parser.add_argument(
        "--inference-log-rotate-seconds",
        type=_positive_float,
        default=d.inference_log_rotate_seconds,
        help="how often serving publishes its inference log files (retraining reads published ones only)",
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
        help="non-interactive (CI): exit 0 once the README's curl example has returned predictions "
        "(with --demo-drift: once the demo has passed)",
    )
    parser.add_argument(
        "--demo-drift",
        nargs="?",
        const=DriftDemo.ADAPT.value,
        choices=[demo.value for demo in DriftDemo],
        help="once ready, shift one feature and the labels of a labelled traffic stream and show the "
        "platform adapt (adapt, the default), or send it unshifted (control); in a fresh state dir",
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
    demo = None if ns.demo_drift is None else DriftDemo(ns.demo_drift)
    sample_rate = ns.inference_log_sample_rate
    if demo is not None:
        if ns.no_prometheus:
            raise DevLoopConfigError("--demo-drift needs Prometheus and Alertmanager: drop --no-prometheus")
        if ns.dataset != DevLoopConfig.dataset:
            raise DevLoopConfigError("--demo-drift streams breast_cancer rows: drop --dataset")
        if sample_rate == 0:
            raise DevLoopConfigError("--demo-drift needs the inference log: --inference-log must be above 0")
        sample_rate = 1.0 if sample_rate is None else sample_rate
    state_dir = ns.state_dir
    if state_dir is None:
        # A demo starts from a fresh registry (a kept champion may already be an adapted one), and never
        # deletes anything: each demo gets its own directory.
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        state_dir = DevLoopConfig.state_dir if demo is None else DEMO_STATE_ROOT / stamp
    return DevLoopConfig(
        state_dir=state_dir.resolve(),
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
        feedback_window_hours=ns.feedback_window_hours,
        feedback_weight=ns.feedback_weight,
        prometheus=not ns.no_prometheus,
        retrain=ns.retrain,
        reload_interval_seconds=ns.reload_interval,
        exit_when_ready=ns.exit_when_ready,
        inference_log_sample_rate=sample_rate or 0.0,
        inference_log_rotate_seconds=ns.inference_log_rotate_seconds,
        demo_drift=demo,
        drift_psi=ns.drift_psi,
        drift_share=ns.drift_share,
        drift_feature_psi=ns.drift_feature_psi,
    )
