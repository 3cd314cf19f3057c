"""Alert rules: promtool lint, a unit test per alert (fires when it should, stays quiet when it should not),
metric names only from the contract or a declared exporter, and a runbook section for every alert."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops_contract.metrics import exported_series
from monitoring.promql import bare_metric_names, metric_names
from monitoring.recording import recorded_series, recording_rules
from monitoring.rules import RUNBOOK_DOC, alert_rules, rules_document
from monitoring.sources import known_series
from monitoring.thresholds import Thresholds

REPO = Path(__file__).resolve().parents[2]
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (scripts/setup.sh system)"
)

S = 'job="serving",instance="a:8000"'
M = 'job="mlflow",instance="mlflow:5000"'
PREDICT = 'route="/v1/predict",method="POST"'
BACKUP = 'cronjob="mlflow-backup",namespace="mlops",job="kube-state-metrics"'


def _psi(*values: float, instance: str = "a:8000") -> dict[str, str]:
    """Per-feature PSI series of one replica, constant for 20 minutes."""
    return {
        f'mlops_feature_drift_psi{{job="serving",instance="{instance}",feature="f{i}"}}': f"{v}x20"
        for i, v in enumerate(values)
    }


# alert -> (firing input series, quiet input series, eval time, labels the firing alert carries from its expr)
CASES: dict[str, tuple[dict[str, str], dict[str, str], str, dict[str, str]]] = {
    "ServingDown": ({f"up{{{S}}}": "0x15"}, {f"up{{{S}}}": "1x15"}, "10m", {}),
    "ServingNoReadyReplicas": (
        {'kube_deployment_status_replicas_available{deployment="serving",namespace="mlops"}': "0x15"},
        {'kube_deployment_status_replicas_available{deployment="serving",namespace="mlops"}': "2x15"},
        "10m",
        {"deployment": "serving", "namespace": "mlops"},
    ),
    "ServingNoModelLoaded": (
        {f"mlops_model_loaded{{{S}}}": "0x15"},
        {f"mlops_model_loaded{{{S}}}": "1x15"},
        "10m",
        {},
    ),
    "ServingHighErrorRatio": (
        {
            f'mlops_http_requests_total{{{S},{PREDICT},status="500"}}': "0+10x30",
            f'mlops_http_requests_total{{{S},{PREDICT},status="200"}}': "0+100x30",
        },
        {
            f'mlops_http_requests_total{{{S},{PREDICT},status="500"}}': "0+0x30",
            f'mlops_http_requests_total{{{S},{PREDICT},status="200"}}': "0+100x30",
        },
        "25m",
        {},
    ),
    "ServingHighLatencyP99": (
        {
            f'mlops_http_request_duration_seconds_bucket{{{S},{PREDICT},status="200",le="0.1"}}': "0+0x30",
            f'mlops_http_request_duration_seconds_bucket{{{S},{PREDICT},status="200",le="0.25"}}': "0+0x30",
            f'mlops_http_request_duration_seconds_bucket{{{S},{PREDICT},status="200",le="0.5"}}': "0+10x30",
            f'mlops_http_request_duration_seconds_bucket{{{S},{PREDICT},status="200",le="+Inf"}}': "0+10x30",
        },
        {
            f'mlops_http_request_duration_seconds_bucket{{{S},{PREDICT},status="200",le="0.1"}}': "0+0x30",
            f'mlops_http_request_duration_seconds_bucket{{{S},{PREDICT},status="200",le="0.25"}}': "0+10x30",
            f'mlops_http_request_duration_seconds_bucket{{{S},{PREDICT},status="200",le="0.5"}}': "0+10x30",
            f'mlops_http_request_duration_seconds_bucket{{{S},{PREDICT},status="200",le="+Inf"}}': "0+10x30",
        },
        "25m",
        {},
    ),
    "ServingModelReloadFailing": (
        # A broken champion: every retry fails.
        {f"mlops_model_reload_failures_total{{{S}}}": "0 1 1 1 1 2 2 2 2 2 3x10"},
        # One transient failure is not worth an alert.
        {f"mlops_model_reload_failures_total{{{S}}}": "0 1x20"},
        "10m",
        {},
    ),
    "ServingShedding": (
        {
            f'mlops_http_requests_shed_total{{{S},reason="in_flight"}}': "0+10x30",
            f'mlops_http_requests_total{{{S},{PREDICT},status="503"}}': "0+10x30",
            f'mlops_http_requests_total{{{S},{PREDICT},status="200"}}': "0+100x30",
        },
        {
            f'mlops_http_requests_shed_total{{{S},reason="in_flight"}}': "0+0x30",
            f'mlops_http_requests_total{{{S},{PREDICT},status="200"}}': "0+100x30",
        },
        "25m",
        {},
    ),
    "DatasetDrift": (
        # Three of four features drifted moderately: no single one is extreme.
        {**_psi(0.3, 0.3, 0.3, 0.01), f"mlops_drift_window_rows{{{S}}}": "500x20"},
        # One feature drifted strongly: not a dataset-level shift.
        {**_psi(2.0, 0.01, 0.01, 0.01), f"mlops_drift_window_rows{{{S}}}": "500x20"},
        "10m",
        {},
    ),
    "FeatureDrift": (
        {**_psi(2.0, 0.01, 0.01, 0.01), f"mlops_drift_window_rows{{{S}}}": "500x20"},
        # Drift on a tiny window is noise: quiet.
        {**_psi(2.0, 0.01, 0.01, 0.01), f"mlops_drift_window_rows{{{S}}}": "20x20"},
        "10m",
        {},
    ),
    "ModelTooOld": (
        {f"mlops_model_age_seconds{{{S}}}": "700000+60x60"},
        {f"mlops_model_age_seconds{{{S}}}": "1000+60x60"},
        "45m",
        {},
    ),
    "MlflowDown": ({f"up{{{M}}}": "0x15"}, {f"up{{{M}}}": "1x15"}, "10m", {}),
    "MlflowBackendErrors": (
        {
            f'mlflow_http_request_total{{{M},method="GET",status="500"}}': "0+10x20",
            f'mlflow_http_request_total{{{M},method="GET",status="200"}}': "0+10x20",
        },
        {
            f'mlflow_http_request_total{{{M},method="GET",status="500"}}': "0+0x20",
            f'mlflow_http_request_total{{{M},method="GET",status="200"}}': "0+10x20",
        },
        "15m",
        {},
    ),
    "PostgresNotReady": (
        {'kube_statefulset_status_replicas_ready{statefulset="mlflow-postgres",namespace="mlops"}': "0x15"},
        {'kube_statefulset_status_replicas_ready{statefulset="mlflow-postgres",namespace="mlops"}': "1x15"},
        "10m",
        {"statefulset": "mlflow-postgres", "namespace": "mlops"},
    ),
    "RetrainingFailing": (
        {'kube_job_status_failed{job_name="training-retrain-29412",namespace="mlops"}': "1x10"},
        {'kube_job_status_failed{job_name="training-retrain-29412",namespace="mlops"}': "0x10"},
        "5m",
        {"job_name": "training-retrain-29412"},
    ),
    # Evaluated at 32h (time() = 115200 s): the last success 32h ago vs. one a minute ago.
    "MlflowBackupStale": (
        {
            f"kube_cronjob_created{{{BACKUP}}}": "0x2000",
            f"kube_cronjob_status_last_successful_time{{{BACKUP}}}": "0x2000",
        },
        {
            f"kube_cronjob_created{{{BACKUP}}}": "0x2000",
            f"kube_cronjob_status_last_successful_time{{{BACKUP}}}": "0+60x2000",
        },
        "32h",
        {},
    ),
}


def test_every_alert_has_a_promtool_case() -> None:
    assert {r.name for r in alert_rules()} == set(CASES)


def test_rules_use_only_known_series() -> None:
    for rule in alert_rules():
        assert bare_metric_names(rule.expr) == set(), rule.name
        names = metric_names(rule.expr)
        assert names, rule.name
        known = known_series() | recorded_series()
        assert names <= known, f"{rule.name}: {names - known}"
        for name in names:
            if name.startswith("mlops_"):
                assert name in exported_series(), name


def test_every_alert_has_a_runbook_section() -> None:
    doc = (REPO / RUNBOOK_DOC).read_text()
    anchors = set(re.findall(r"^## (\S+)$", doc, re.MULTILINE))
    for rule in alert_rules():
        body = rule.as_dict()
        assert body["annotations"]["runbook_url"] == f"{RUNBOOK_DOC}#{rule.runbook_anchor}"
        assert rule.runbook_anchor in anchors, rule.name


def test_only_drift_triggers_retraining() -> None:
    retrain = [r.name for r in alert_rules() if r.extra_labels.get("action") == "retrain"]
    assert retrain == ["DatasetDrift", "FeatureDrift"]


def _write_rules(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(rules_document()))
    return path


@needs_promtool
def test_promtool_check_rules_lint(tmp_path: Path) -> None:
    result = subprocess.run(
        [PROMTOOL, "check", "rules", "--lint=all", "--lint-fatal", str(_write_rules(tmp_path))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(CASES) + len(recording_rules())} rules found" in result.stdout


def _case(alert: str, series: dict[str, str], at: str, expected: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "interval": "1m",
        "input_series": [{"series": s, "values": v} for s, v in series.items()],
        "alert_rule_test": [{"eval_time": at, "alertname": alert, "exp_alerts": expected}],
    }


@needs_promtool
def test_promtool_unit_tests_for_every_alert(tmp_path: Path) -> None:
    rules = {r.name: r.as_dict() for r in alert_rules()}
    tests = []
    for alert, (firing, quiet, at, expr_labels) in CASES.items():
        expected = {
            "exp_labels": {**rules[alert]["labels"], **expr_labels},
            "exp_annotations": rules[alert]["annotations"],
        }
        tests.append(_case(alert, firing, at, [expected]))
        tests.append(_case(alert, quiet, at, []))
    # "Never scraped" also counts as down.
    tests.append(
        _case(
            "ServingDown",
            {f"up{{{M}}}": "1x15"},
            "10m",
            [
                {
                    "exp_labels": {**rules["ServingDown"]["labels"], "job": "serving"},
                    "exp_annotations": rules["ServingDown"]["annotations"],
                }
            ],
        )
    )
    # A backup CronJob that never succeeded alerts once it is older than the limit, not before.
    backup = rules["MlflowBackupStale"]
    never = {f"kube_cronjob_created{{{BACKUP}}}": "0x2000"}
    tests.append(
        _case(
            "MlflowBackupStale",
            never,
            "32h",
            [{"exp_labels": backup["labels"], "exp_annotations": backup["annotations"]}],
        )
    )
    tests.append(_case("MlflowBackupStale", never, "20h", []))
    rules_path = _write_rules(tmp_path)
    test_file = tmp_path / "tests.yml"
    test_file.write_text(
        yaml.safe_dump({"rule_files": [rules_path.name], "evaluation_interval": "1m", "tests": tests})
    )
    result = subprocess.run(
        [PROMTOOL, "test", "rules", str(test_file)], capture_output=True, text=True, check=False, cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_promtool_catches_a_wrong_expectation(tmp_path: Path) -> None:
    """The harness above can fail: a quiet input expected to fire is reported."""
    rules = {r.name: r.as_dict() for r in alert_rules()}
    _, quiet, at, _ = CASES["FeatureDrift"]
    wrong = _case("FeatureDrift", quiet, at, [{"exp_labels": rules["FeatureDrift"]["labels"]}])
    rules_path = _write_rules(tmp_path)
    test_file = tmp_path / "tests.yml"
    test_file.write_text(yaml.safe_dump({"rule_files": [rules_path.name], "tests": [wrong]}))
    result = subprocess.run(
        [PROMTOOL, "test", "rules", str(test_file)], capture_output=True, text=True, check=False, cwd=tmp_path
    )
    assert result.returncode != 0


def test_thresholds_reach_the_rules() -> None:
    t = Thresholds(
        drift_psi=0.05, drift_share=0.3, drift_feature_psi=0.7, drift_min_rows=42, error_ratio=0.001
    )
    strict = {r.name: r.expr for r in alert_rules(t)}
    assert "> 0.001" in strict["ServingHighErrorRatio"]
    assert ">= 0.3" in strict["DatasetDrift"] and "> 0.7" in strict["FeatureDrift"]
    recorded = " ".join(r.expr for r in recording_rules(t))
    assert "> bool 0.05" in recorded and ">= 42" in recorded


def test_recording_rules_follow_the_naming_convention() -> None:
    for rule in recording_rules():
        level, metric, operations = rule.record.split(":")
        assert level and operations and metric.startswith("mlops_"), rule.record
        assert metric_names(rule.expr) <= known_series() | recorded_series()


# Drift scenarios on 30 features, as measured: one feature shifted by a standard deviation has PSI ~2.0
# while the mean over all 30 is 0.077 (the old mean-PSI alert never fired on it).
W = {f"mlops_drift_window_rows{{{S}}}": "500x20"}
DRIFT_SCENARIOS: dict[str, tuple[dict[str, str], set[str]]] = {
    "one feature": ({**_psi(2.0, *[0.01] * 29), **W}, {"FeatureDrift"}),
    "many features": ({**_psi(*[0.3] * 16, *[0.01] * 14), **W}, {"DatasetDrift"}),
    "many features, one extreme": (
        {**_psi(1.5, *[0.3] * 15, *[0.01] * 14), **W},
        {"DatasetDrift", "FeatureDrift"},
    ),
    "no drift": ({**_psi(*[0.05] * 30), **W}, set()),
    "one feature, window too small": (
        {**_psi(2.0, *[0.01] * 29), f"mlops_drift_window_rows{{{S}}}": "50x20"},
        set(),
    ),
    # A replica that has just started (small window) does not count; the full replica is calm.
    "noisy new replica beside a calm one": (
        {
            **_psi(2.0, *[0.5] * 29, instance="b:8000"),
            'mlops_drift_window_rows{job="serving",instance="b:8000"}': "30x20",
            **_psi(*[0.02] * 30),
            **W,
        },
        set(),
    ),
}


@needs_promtool
def test_promtool_drift_scenarios(tmp_path: Path) -> None:
    rules = {r.name: r.as_dict() for r in alert_rules()}
    tests = []
    for _scenario, (series, firing) in DRIFT_SCENARIOS.items():
        for alert in ("DatasetDrift", "FeatureDrift"):
            expected = (
                [{"exp_labels": rules[alert]["labels"], "exp_annotations": rules[alert]["annotations"]}]
                if alert in firing
                else []
            )
            tests.append(_case(alert, series, "10m", expected))
    rules_path = _write_rules(tmp_path)
    test_file = tmp_path / "tests.yml"
    test_file.write_text(yaml.safe_dump({"rule_files": [rules_path.name], "tests": tests}))
    result = subprocess.run(
        [PROMTOOL, "test", "rules", str(test_file)], capture_output=True, text=True, check=False, cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
