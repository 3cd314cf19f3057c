"""TrainConfig: every training option, read once from flags and environment."""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any

from mlops_contract.names import DEFAULT_EXPERIMENT, DEFAULT_MODEL_NAME, Env


class ConfigError(ValueError):
    """A bad option or input; the message names the flag, variable or column."""


class ModelKind(StrEnum):
    """Estimators the pipeline can end in."""

    LOGISTIC_REGRESSION = "logistic_regression"
    RANDOM_FOREST = "random_forest"
    DECISION_TREE = "decision_tree"


class Strictness(StrEnum):
    """Which data-validation findings refuse the data: strict (warnings too), standard (errors), lenient."""

    STRICT = "strict"
    STANDARD = "standard"
    LENIENT = "lenient"


class GateMetric(StrEnum):
    """Holdout metrics the promotion gate can compare on."""

    F1 = "f1"
    ACCURACY = "accuracy"
    ROC_AUC = "roc_auc"
    PRECISION = "precision"
    RECALL = "recall"


@dataclass(frozen=True)
class TrainConfig:
    """What to train on, how, where to log it, and when to promote it."""

    tracking_uri: str
    model_name: str = DEFAULT_MODEL_NAME
    experiment: str = DEFAULT_EXPERIMENT
    dataset: str = "breast_cancer"
    """A URI (training/sources.py): a bundled scikit-learn name, a CSV file, a directory of dated snapshots
    (the newest is read) or an http(s) URL of a CSV; all but the bundled names need target_column."""
    target_column: str | None = None
    download_timeout_seconds: float = 30.0
    """Socket timeout of an http(s) dataset download."""
    max_download_bytes: int = 256 * 1024 * 1024
    """An http(s) dataset larger than this is refused."""
    feedback_dir: str | None = None
    """An inference log directory (mlops_contract/inference_log.py): its labelled requests join the training
    data, and the gate's holdout is drawn from them. None trains on the dataset alone."""
    feedback_window_hours: float = 168.0
    """Only requests logged within this many hours before the run count."""
    feedback_weight: float = 1.0
    """Sample weight of a labelled-traffic row relative to a dataset row (above 1 favours recent traffic)."""
    feedback_min_holdout_rows: int = 20
    """Fewer labelled-traffic holdout rows than this: the gate scores on the dataset's holdout instead."""
    reference_recent_rows: int = 1000
    """With an inference log holding at least this many rows in the window, the drift reference profile is
    built from its most recent rows (what serving sees now), not from the training rows; 0: always the
    training rows."""
    model: ModelKind = ModelKind.LOGISTIC_REGRESSION
    c: float = 1.0
    """Inverse regularisation strength (logistic regression)."""
    n_estimators: int = 100
    max_depth: int | None = None
    """Tree depth limit (random forest, decision tree); None = unlimited."""
    test_size: float = 0.25
    random_seed: int = 42
    """Seeds the holdout split too, so every run with the same data scores on the same holdout."""
    promotion_margin: float = 0.005
    """The candidate must beat the champion's gate metric by more than this to take the alias."""
    promotion_floor: float = 0.7
    """No model below this gate-metric value is ever promoted."""
    gate_metric: GateMetric = GateMetric.F1
    baseline_margin: float = 0.05
    """The candidate must beat a majority-class (prior) baseline's gate metric by more than this."""
    eval_dataset: str | None = None
    """Trusted evaluation set (bundled name or CSV); its seeded holdout scores candidate and champion alike.
    None: the training dataset's own holdout (set a pinned set when the training data can change)."""
    validation: Strictness = Strictness.STANDARD
    min_rows_per_class: int = 10
    """Fewer rows than this for any class refuses the data at every strictness."""
    request_timeout_seconds: int = 30
    """Timeout of every MLflow HTTP call after start-up (MLflow's own MLFLOW_HTTP_REQUEST_TIMEOUT)."""
    request_max_retries: int = 2
    """Retries of a failed MLflow HTTP call (MLflow's own MLFLOW_HTTP_REQUEST_MAX_RETRIES)."""
    max_run_seconds: float = 1800.0
    """A run must finish within this; later trainings mark a RUNNING run past it FAILED (it was abandoned)."""
    lock_wait_seconds: float = 300.0
    """How long to wait for another training's promotion to finish before giving up."""
    lock_ttl_seconds: float = 300.0
    """A promotion lock older than this is taken to belong to a dead process and may be broken."""
    git_commit: str | None = None
    connect_attempts: int = 3
    """Tries to reach the tracking server before giving up."""
    connect_timeout_seconds: float = 3.0

    @classmethod
    def from_sources(cls, argv: Sequence[str], env: Mapping[str, str]) -> TrainConfig:
        """Flags win over environment variables, which win over defaults; ConfigError names the bad key."""
        return _parse(argv, env)


# TrainConfig fields that can also come from the environment (flags win).
_ENV_FOR_FIELD: dict[str, Env] = {
    "tracking_uri": Env.TRACKING_URI,
    "model_name": Env.MODEL_NAME,
    "experiment": Env.EXPERIMENT,
    "dataset": Env.DATASET,
    "target_column": Env.TARGET_COLUMN,
    "feedback_dir": Env.INFERENCE_LOG_DIR,
    "feedback_window_hours": Env.FEEDBACK_WINDOW_HOURS,
    "feedback_weight": Env.FEEDBACK_WEIGHT,
    "promotion_margin": Env.PROMOTION_MARGIN,
    "promotion_floor": Env.PROMOTION_FLOOR,
    "git_commit": Env.GIT_COMMIT,
    "baseline_margin": Env.BASELINE_MARGIN,
    "eval_dataset": Env.EVAL_DATASET,
    "validation": Env.VALIDATION,
    "request_timeout_seconds": Env.HTTP_REQUEST_TIMEOUT,
    "request_max_retries": Env.HTTP_REQUEST_MAX_RETRIES,
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise ConfigError(message)


def build_parser() -> argparse.ArgumentParser:
    """The `python -m training` command line (every flag also documented in docs/training.md)."""
    p = _Parser(prog="python -m training", description="Train, log to MLflow, register, and gate promotion.")
    p.add_argument("--tracking-uri", help=f"MLflow tracking server (env {Env.TRACKING_URI})")
    p.add_argument("--model-name", help=f"registered model name (env {Env.MODEL_NAME})")
    p.add_argument("--experiment", help=f"MLflow experiment (env {Env.EXPERIMENT})")
    p.add_argument(
        "--dataset",
        help=f"bundled name, CSV file, snapshot directory or http(s) URL (env {Env.DATASET})",
    )
    p.add_argument("--target-column", help=f"target column of a CSV dataset (env {Env.TARGET_COLUMN})")
    p.add_argument("--download-timeout", dest="download_timeout_seconds", help="http(s) dataset timeout (s)")
    p.add_argument("--max-download-bytes", help="size cap of an http(s) dataset")
    p.add_argument(
        "--feedback-dir", help=f"inference log directory with labelled traffic (env {Env.INFERENCE_LOG_DIR})"
    )
    p.add_argument(
        "--feedback-window-hours",
        help=f"labelled traffic of the last N hours (env {Env.FEEDBACK_WINDOW_HOURS})",
    )
    p.add_argument(
        "--feedback-weight", help=f"sample weight of a labelled-traffic row (env {Env.FEEDBACK_WEIGHT})"
    )
    p.add_argument("--feedback-min-holdout-rows", help="labelled holdout rows needed to gate on traffic")
    p.add_argument(
        "--reference-recent-rows",
        help="drift reference from the inference log's last N rows when it has that many (0: never)",
    )
    p.add_argument("--model", help="estimator: " + ", ".join(m.value for m in ModelKind))
    p.add_argument("--C", dest="c", help="inverse regularisation strength (logistic_regression)")
    p.add_argument("--n-estimators", help="number of trees (random_forest)")
    p.add_argument("--max-depth", help="tree depth limit (random_forest, decision_tree)")
    p.add_argument("--test-size", help="holdout fraction, 0 < x < 1")
    p.add_argument("--seed", dest="random_seed", help="random seed (split and estimator)")
    p.add_argument(
        "--promotion-margin", help=f"required improvement over the champion (env {Env.PROMOTION_MARGIN})"
    )
    p.add_argument("--promotion-floor", help=f"minimum gate metric to promote (env {Env.PROMOTION_FLOOR})")
    p.add_argument(
        "--gate-metric", help="metric the gate compares: " + ", ".join(m.value for m in GateMetric)
    )
    p.add_argument(
        "--baseline-margin",
        help=f"required improvement over a majority-class baseline (env {Env.BASELINE_MARGIN})",
    )
    p.add_argument("--eval-dataset", help=f"trusted evaluation set, name or CSV (env {Env.EVAL_DATASET})")
    p.add_argument(
        "--validation",
        help=f"data validation strictness: {', '.join(Strictness)} (env {Env.VALIDATION})",
    )
    p.add_argument("--min-rows-per-class", help="fewest rows any class may have")
    p.add_argument(
        "--request-timeout",
        dest="request_timeout_seconds",
        help=f"seconds per MLflow call (env {Env.HTTP_REQUEST_TIMEOUT})",
    )
    p.add_argument(
        "--request-retries",
        dest="request_max_retries",
        help=f"retries per MLflow call (env {Env.HTTP_REQUEST_MAX_RETRIES})",
    )
    p.add_argument("--max-run-seconds", help="a run past this is abandoned (marked FAILED by the next one)")
    p.add_argument("--lock-wait", dest="lock_wait_seconds", help="seconds to wait for the promotion lock")
    p.add_argument(
        "--lock-ttl", dest="lock_ttl_seconds", help="seconds after which a promotion lock is stale"
    )
    p.add_argument(
        "--git-commit", help=f"code version tag (env {Env.GIT_COMMIT}; default: git rev-parse HEAD)"
    )
    p.add_argument("--connect-attempts", help="tries to reach the tracking server")
    p.add_argument("--connect-timeout", dest="connect_timeout_seconds", help="seconds per connection try")
    return p


def _flag(field_name: str) -> str:
    return {
        "c": "--C",
        "random_seed": "--seed",
        "connect_timeout_seconds": "--connect-timeout",
        "download_timeout_seconds": "--download-timeout",
        "request_timeout_seconds": "--request-timeout",
        "request_max_retries": "--request-retries",
        "lock_wait_seconds": "--lock-wait",
        "lock_ttl_seconds": "--lock-ttl",
    }.get(field_name, "--" + field_name.replace("_", "-"))


def _source(field_name: str) -> str:
    env = _ENV_FOR_FIELD.get(field_name)
    return f"{_flag(field_name)}/{env.value}" if env else _flag(field_name)


_INTEGER_FIELDS = {
    "n_estimators",
    "random_seed",
    "connect_attempts",
    "max_download_bytes",
    "feedback_min_holdout_rows",
    "reference_recent_rows",
    "min_rows_per_class",
    "request_timeout_seconds",
    "request_max_retries",
}


def _convert(field_name: str, raw: str) -> Any:
    where = _source(field_name)
    try:
        match field_name:
            case "model":
                return ModelKind(raw)
            case "gate_metric":
                return GateMetric(raw)
            case "validation":
                return Strictness(raw)
            case (
                "n_estimators"
                | "random_seed"
                | "connect_attempts"
                | "max_download_bytes"
                | "feedback_min_holdout_rows"
                | "reference_recent_rows"
                | "min_rows_per_class"
                | "request_timeout_seconds"
                | "request_max_retries"
            ):
                return int(raw)
            case "max_depth":
                return None if raw.lower() in {"", "none"} else int(raw)
            case (
                "c"
                | "test_size"
                | "promotion_margin"
                | "promotion_floor"
                | "connect_timeout_seconds"
                | "download_timeout_seconds"
                | "feedback_window_hours"
                | "feedback_weight"
                | "baseline_margin"
                | "lock_wait_seconds"
                | "lock_ttl_seconds"
                | "max_run_seconds"
            ):
                value = float(raw)
                if not math.isfinite(value):
                    raise ValueError
                return value
            case _:
                return raw
    except ValueError:
        allowed = {
            "model": ", ".join(ModelKind),
            "gate_metric": ", ".join(GateMetric),
            "validation": ", ".join(Strictness),
        }.get(field_name, "an integer" if field_name in _INTEGER_FIELDS else "a number")
        raise ConfigError(f"{where}: invalid value {raw!r} (allowed: {allowed})") from None


def _validate(cfg: TrainConfig) -> None:
    checks: list[tuple[bool, str, str]] = [
        (bool(cfg.tracking_uri), "tracking_uri", "is required"),
        (bool(cfg.model_name.strip()), "model_name", "must not be empty"),
        (bool(cfg.dataset.strip()), "dataset", "must not be empty"),
        (cfg.c > 0, "c", "must be > 0"),
        (cfg.n_estimators >= 1, "n_estimators", "must be >= 1"),
        (cfg.max_depth is None or cfg.max_depth >= 1, "max_depth", "must be >= 1 or none"),
        (0 < cfg.test_size < 1, "test_size", "must be between 0 and 1 (exclusive)"),
        (cfg.promotion_margin >= 0, "promotion_margin", "must be >= 0"),
        (0 <= cfg.promotion_floor <= 1, "promotion_floor", "must be between 0 and 1"),
        (cfg.connect_attempts >= 1, "connect_attempts", "must be >= 1"),
        (cfg.connect_timeout_seconds > 0, "connect_timeout_seconds", "must be > 0"),
        (cfg.download_timeout_seconds > 0, "download_timeout_seconds", "must be > 0"),
        (cfg.max_download_bytes >= 1, "max_download_bytes", "must be >= 1"),
        (cfg.feedback_dir is None or bool(cfg.feedback_dir.strip()), "feedback_dir", "must not be empty"),
        (cfg.feedback_window_hours > 0, "feedback_window_hours", "must be > 0"),
        (cfg.feedback_weight > 0, "feedback_weight", "must be > 0"),
        (cfg.feedback_min_holdout_rows >= 1, "feedback_min_holdout_rows", "must be >= 1"),
        (cfg.reference_recent_rows >= 0, "reference_recent_rows", "must be >= 0"),
        (0 <= cfg.baseline_margin <= 1, "baseline_margin", "must be between 0 and 1"),
        (cfg.eval_dataset is None or bool(cfg.eval_dataset.strip()), "eval_dataset", "must not be empty"),
        (cfg.min_rows_per_class >= 2, "min_rows_per_class", "must be >= 2"),
        (cfg.request_timeout_seconds >= 1, "request_timeout_seconds", "must be >= 1"),
        (0 <= cfg.request_max_retries <= 10, "request_max_retries", "must be between 0 and 10"),
        (cfg.max_run_seconds > 0, "max_run_seconds", "must be > 0"),
        (cfg.lock_wait_seconds > 0, "lock_wait_seconds", "must be > 0"),
        (cfg.lock_ttl_seconds > 0, "lock_ttl_seconds", "must be > 0"),
    ]
    for ok, field_name, message in checks:
        if not ok:
            value = getattr(cfg, field_name)
            raise ConfigError(f"{_source(field_name)}: {message} (got {value!r})")


def _parse(argv: Sequence[str], env: Mapping[str, str]) -> TrainConfig:
    ns = vars(build_parser().parse_args(list(argv)))
    values: dict[str, Any] = {}
    for f in fields(TrainConfig):
        raw = ns.get(f.name)
        if raw is None and f.name in _ENV_FOR_FIELD:
            raw = env.get(_ENV_FOR_FIELD[f.name])
        if raw is not None:
            values[f.name] = _convert(f.name, raw)
    if "tracking_uri" not in values:
        raise ConfigError(f"--tracking-uri/{Env.TRACKING_URI}: is required (e.g. http://127.0.0.1:5000)")
    cfg = TrainConfig(**values)
    _validate(cfg)
    return cfg
