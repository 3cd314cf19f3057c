"""The local monitoring loop: Prometheus (project rules), Alertmanager and the retrain trigger as processes.

Same rules, scrape job names and Alertmanager routing as the cluster (monitoring/*), with static targets and
shorter `for` durations so a developer sees an alert within minutes.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from devloop.process import ManagedProcess
from mlops_contract.names import Env, Route
from monitoring.alertmanager_config import alertmanager_config
from monitoring.prometheus_config import Layout, MlflowTarget, prometheus_config
from monitoring.rules import rules_document
from monitoring.thresholds import Thresholds

# Local loop: alert after one minute of drift instead of five, scrape every 5 s.
LOCAL_THRESHOLDS = Thresholds(down_for="1m", slo_for="2m", drift_for="30s")


@dataclass(frozen=True)
class MonitoringSpec:
    """Ports and state of the local monitoring processes."""

    state_dir: Path
    host: str
    prometheus_port: int
    alertmanager_port: int
    trigger_port: int
    serving_target: str
    mlflow_target: str
    thresholds: Thresholds = LOCAL_THRESHOLDS
    scrape_interval: str = "5s"

    @property
    def prometheus_url(self) -> str:
        """Prometheus base URL."""
        return f"http://{self.host}:{self.prometheus_port}"

    @property
    def alertmanager_url(self) -> str:
        """Alertmanager base URL."""
        return f"http://{self.host}:{self.alertmanager_port}"

    @property
    def trigger_url(self) -> str:
        """Retrain trigger base URL."""
        return f"http://{self.host}:{self.trigger_port}"


def prometheus_binary() -> str | None:
    """Debian's `prometheus`, if installed."""
    return shutil.which("prometheus")


def alertmanager_binary() -> str | None:
    """Debian names it prometheus-alertmanager; upstream tarballs `alertmanager`."""
    return shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


def prometheus_process(spec: MonitoringSpec, binary: str, with_alertmanager: bool) -> ManagedProcess:
    """Prometheus scraping serving and MLflow with the platform's rules."""
    home = spec.state_dir / "prometheus"
    home.mkdir(parents=True, exist_ok=True)
    rules = home / "rules.yml"
    rules.write_text(yaml.safe_dump(rules_document(spec.thresholds), sort_keys=False))
    layout = Layout(
        serving_targets=(spec.serving_target,),
        mlflow=MlflowTarget(spec.mlflow_target),
        alertmanager=f"{spec.host}:{spec.alertmanager_port}" if with_alertmanager else None,
        rule_files=(str(rules),),
        scrape_interval=spec.scrape_interval,
        evaluation_interval=spec.scrape_interval,
    )
    config = home / "prometheus.yml"
    config.write_text(yaml.safe_dump(prometheus_config(layout), sort_keys=False))
    return ManagedProcess(
        name="prometheus",
        argv=[
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={home / 'data'}",
            "--storage.tsdb.retention.time=2d",
            f"--web.listen-address={spec.host}:{spec.prometheus_port}",
        ],
        ready_url=f"{spec.prometheus_url}/-/ready",
        log_path=home / "prometheus.log",
    )


def alertmanager_process(spec: MonitoringSpec, binary: str) -> ManagedProcess:
    """Alertmanager routing drift alerts to the local retrain trigger."""
    home = spec.state_dir / "alertmanager"
    home.mkdir(parents=True, exist_ok=True)
    config = home / "alertmanager.yml"
    config.write_text(yaml.safe_dump(alertmanager_config(spec.trigger_url), sort_keys=False))
    return ManagedProcess(
        name="alertmanager",
        argv=[
            binary,
            f"--config.file={config}",
            f"--storage.path={home / 'data'}",
            f"--web.listen-address={spec.host}:{spec.alertmanager_port}",
            "--cluster.listen-address=",  # a single local instance: no gossip port
        ],
        ready_url=f"{spec.alertmanager_url}/-/ready",
        log_path=home / "alertmanager.log",
    )


def trigger_process(spec: MonitoringSpec, training_env: dict[str, str]) -> ManagedProcess:
    """The retrain trigger with the local backend: a drift episode runs `python -m training` once."""
    env = {
        **training_env,
        Env.TRIGGER_BACKEND.value: "local",
        Env.TRIGGER_HOST.value: spec.host,
        Env.TRIGGER_PORT.value: str(spec.trigger_port),
    }
    return ManagedProcess(
        name="retrain-trigger",
        argv=[sys.executable, "-m", "services.retrain_trigger"],
        ready_url=f"{spec.trigger_url}{Route.HEALTHZ}",
        log_path=spec.state_dir / "retrain-trigger.log",
        env=env,
    )
