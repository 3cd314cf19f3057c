"""Start the platform as local processes in dependency order, report progress, stop it all cleanly."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from devloop.config import DevLoopConfig
from devloop.mlflow_server import MlflowServerSpec, mlflow_server_process
from devloop.monitoring_stack import (
    LOCAL_THRESHOLDS,
    MonitoringSpec,
    alertmanager_binary,
    alertmanager_process,
    prometheus_binary,
    prometheus_process,
    trigger_process,
)
from devloop.process import ManagedProcess, ProcessFailedError, port_free
from mlops_contract.names import CHAMPION_ALIAS, SERVING_SHUTDOWN_GRACE_SECONDS, Env, Route

Reporter = Callable[[str], None]


class DevLoopError(RuntimeError):
    """A step failed; the message says which and why."""


def client_env(cfg: DevLoopConfig) -> dict[str, str]:
    """What training and serving read, by the same names the cluster's pod specs use."""
    return {
        Env.TRACKING_URI: cfg.mlflow_url,
        Env.MODEL_NAME: cfg.model_name,
    }


def training_env(cfg: DevLoopConfig) -> dict[str, str]:
    """Training's environment: the bootstrap run and every drift-triggered retraining read the same data,
    including the labelled traffic of the inference log (the cluster's Jobs mount the log volume likewise)."""
    env = {**client_env(cfg), Env.DATASET: cfg.dataset}
    if cfg.target_column:
        env[Env.TARGET_COLUMN] = cfg.target_column
    if cfg.training_feedback_dir is not None:
        env[Env.INFERENCE_LOG_DIR] = str(cfg.training_feedback_dir)
    if cfg.feedback_window_hours is not None:
        env[Env.FEEDBACK_WINDOW_HOURS] = str(cfg.feedback_window_hours)
    if cfg.feedback_weight is not None:
        env[Env.FEEDBACK_WEIGHT] = str(cfg.feedback_weight)
    return env


def serving_env(cfg: DevLoopConfig) -> dict[str, str]:
    """Serving's environment: registry, alias, reload interval, bind address, inference log."""
    env = {
        **client_env(cfg),
        Env.MODEL_ALIAS: CHAMPION_ALIAS,
        Env.RELOAD_INTERVAL_SECONDS: str(cfg.reload_interval_seconds),
        Env.SERVING_HOST: cfg.host,
        Env.SERVING_PORT: str(cfg.serving_port),
        Env.SERVING_METRICS_PORT: str(cfg.serving_metrics_port),
    }
    if cfg.inference_log_dir is not None:
        env[Env.INFERENCE_LOG_DIR] = str(cfg.inference_log_dir)
        env[Env.INFERENCE_LOG_SAMPLE_RATE] = str(cfg.inference_log_sample_rate)
        env[Env.INFERENCE_LOG_ROTATE_SECONDS] = str(cfg.inference_log_rotate_seconds)
    return env


@dataclass
class LocalPlatform:
    """The running processes of one local platform; stop() tears down in reverse start order."""

    cfg: DevLoopConfig
    report: Reporter = print
    processes: list[ManagedProcess] = field(default_factory=list)
    started_at: float = field(default_factory=time.monotonic)

    def _elapsed(self) -> str:
        return f"{time.monotonic() - self.started_at:5.1f}s"

    def _step(self, message: str) -> None:
        self.report(f"[{self._elapsed()}] {message}")

    def _start(self, proc: ManagedProcess) -> ManagedProcess:
        self.processes.append(proc.start())
        return proc

    def preflight(self) -> None:
        """Fail before starting anything if a port is taken."""
        wanted = {
            "--mlflow-port": self.cfg.mlflow_port,
            "--serving-port": self.cfg.serving_port,
            "--serving-metrics-port": self.cfg.serving_metrics_port,
        }
        if self.cfg.prometheus and prometheus_binary():
            wanted["--prometheus-port"] = self.cfg.prometheus_port
            if alertmanager_binary():
                wanted["--alertmanager-port"] = self.cfg.alertmanager_port
                wanted["--trigger-port"] = self.cfg.trigger_port
        for flag, port in wanted.items():
            if not port_free(self.cfg.host, port):
                raise DevLoopError(
                    f"port {port} on {self.cfg.host} is in use: stop what holds it or pass {flag}"
                )

    def start_mlflow(self) -> None:
        """MLflow tracking server + registry with state under the state dir (kept across restarts)."""
        spec = MlflowServerSpec(
            state_dir=self.cfg.state_dir / "mlflow", host=self.cfg.host, port=self.cfg.mlflow_port
        )
        self._step(f"starting MLflow server ({spec.state_dir})")
        proc = self._start(mlflow_server_process(spec))
        waited = self._wait(proc, timeout=180)
        self._step(f"MLflow ready at {self.cfg.mlflow_url} after {waited:.1f}s")

    def start_serving(self) -> ManagedProcess:
        """Serving process; it loads the champion by itself once one exists."""
        self._step("starting serving (loads the champion in the background)")
        if self.cfg.inference_log_dir is not None:
            # Training reads the log too, and refuses a missing directory: it exists before anything runs.
            self.cfg.inference_log_dir.mkdir(parents=True, exist_ok=True)
        return self._start(
            ManagedProcess(
                name="serving",
                argv=[sys.executable, "-m", "services.serving"],
                ready_url=f"{self.cfg.serving_url}{Route.READYZ}",
                log_path=self.cfg.state_dir / "serving.log",
                env=serving_env(self.cfg),
                # In-flight requests get serving's whole grace period, as in the cluster.
                stop_timeout=SERVING_SHUTDOWN_GRACE_SECONDS + 5,
            )
        )

    def has_champion(self) -> bool:
        """True if the registry already has a champion (a restart keeps it: no retraining needed)."""
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        try:
            MlflowClient(tracking_uri=self.cfg.mlflow_url).get_model_version_by_alias(
                self.cfg.model_name, CHAMPION_ALIAS
            )
        except MlflowException:
            return False
        return True

    def train(self, extra_args: tuple[str, ...] = ()) -> None:
        """Run the same training entry point the cluster's Job runs; stream its output."""
        argv = [sys.executable, "-m", "training", "--dataset", self.cfg.dataset, *extra_args]
        self._step(f"training: {' '.join(argv[1:])}")
        result = run_streaming(argv, env=training_env(self.cfg), prefix="  training | ", report=self.report)
        if result != 0:
            raise DevLoopError(f"training failed with exit code {result} (output above)")

    def monitoring_spec(self) -> MonitoringSpec:
        """Where the local monitoring processes listen."""
        return MonitoringSpec(
            state_dir=self.cfg.state_dir,
            host=self.cfg.host,
            prometheus_port=self.cfg.prometheus_port,
            alertmanager_port=self.cfg.alertmanager_port,
            trigger_port=self.cfg.trigger_port,
            serving_target=f"{self.cfg.host}:{self.cfg.serving_metrics_port}",
            mlflow_target=f"{self.cfg.host}:{self.cfg.mlflow_port}",
            thresholds=replace(
                LOCAL_THRESHOLDS,
                drift_psi=self.cfg.drift_psi,
                drift_share=self.cfg.drift_share,
                drift_feature_psi=self.cfg.drift_feature_psi,
            ),
        )

    def start_monitoring(self) -> None:
        """Prometheus with the project's rules; Alertmanager + retrain trigger close the drift loop."""
        if not self.cfg.prometheus:
            return
        prometheus = prometheus_binary()
        if prometheus is None:
            self._step(
                "note: Prometheus is not installed, so no metrics history or alerts "
                "(apt-get install prometheus prometheus-alertmanager, or scripts/setup.sh system)"
            )
            return
        spec = self.monitoring_spec()
        alertmanager = alertmanager_binary()
        if alertmanager is None:
            self._step("note: Alertmanager is not installed: alerts fire but do not trigger retraining")
        else:
            self._step("starting the retrain trigger and Alertmanager (drift alert -> one retraining)")
            self._wait(self._start(trigger_process(spec, training_env(self.cfg))), timeout=60)
            self._wait(self._start(alertmanager_process(spec, alertmanager)), timeout=60)
        self._step("starting Prometheus with the platform's scrape config and alert rules")
        self._wait(self._start(prometheus_process(spec, prometheus, alertmanager is not None)), timeout=60)

    def _wait(self, proc: ManagedProcess, timeout: float) -> float:
        try:
            return proc.wait_ready(timeout=timeout)
        except ProcessFailedError as exc:
            raise DevLoopError(str(exc)) from None

    def up(self) -> None:
        """Bring everything up; returns once serving answers /readyz."""
        self.preflight()
        self.start_mlflow()
        serving = self.start_serving()
        if self.cfg.retrain or not self.has_champion():
            self.train()
        else:
            self._step(f"champion of {self.cfg.model_name!r} found in the registry: no bootstrap training")
        self._wait(serving, timeout=120)
        self._step(f"serving ready at {self.cfg.serving_url}")
        self.start_monitoring()

    def predict_example(self) -> list[object]:
        """POST the README's curl example to /v1/predict; return the predictions or raise DevLoopError."""
        url = f"{self.cfg.serving_url}{Route.PREDICT}"
        what = f"POST {url} with {self.cfg.example_request}"
        request = urllib.request.Request(  # noqa: S310 - a loopback URL we built
            url,
            data=self.cfg.example_request.read_bytes(),
            headers={"content-type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                body = json.load(response)
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:500]
            raise DevLoopError(
                f"POST {url} with {self.cfg.example_request} -> {exc.code}: {detail}"
            ) from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise DevLoopError(f"{what} failed: {exc}") from None
        predictions = body.get("predictions") if isinstance(body, dict) else None
        if not predictions:
            raise DevLoopError(f"{what} answered without predictions: {body!r:.500}")
        return list(predictions)

    def urls(self) -> Mapping[str, str]:
        """What a user opens."""
        urls = {
            "MLflow UI": self.cfg.mlflow_url,
            "Serving API": f"{self.cfg.serving_url}/docs",
            "Predict": f"{self.cfg.serving_url}{Route.PREDICT}",
            "Metrics": f"http://{self.cfg.host}:{self.cfg.serving_metrics_port}{Route.METRICS}",
        }
        names = {p.name for p in self.processes}
        if "prometheus" in names:
            urls["Prometheus"] = self.cfg.prometheus_url
            urls["Alerts"] = f"{self.cfg.prometheus_url}/alerts"
        if "alertmanager" in names:
            urls["Alertmanager"] = f"http://{self.cfg.host}:{self.cfg.alertmanager_port}"
        return urls

    def check_alive(self) -> None:
        """Raise if a child died while we were waiting."""
        for proc in self.processes:
            if not proc.running():
                raise DevLoopError(f"{proc.name} exited unexpectedly:\n{proc.log_tail()}")

    def stop(self) -> None:
        """Stop children in reverse order (serving before MLflow)."""
        for proc in reversed(self.processes):
            self._step(f"stopping {proc.name}")
            proc.stop()
        self.processes.clear()


def run_streaming(argv: list[str], env: Mapping[str, str], prefix: str, report: Reporter) -> int:
    """Run a command to completion, echoing each output line with a prefix; return its exit code."""
    import os

    with subprocess.Popen(
        argv,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=Path.cwd(),
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            report(prefix + line.rstrip())
        return proc.wait()
