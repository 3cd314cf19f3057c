"""train(cfg): load -> split -> fit -> evaluate -> log -> register -> gate -> (maybe) promote."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path

import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import RunStatus

from mlops_contract.names import (
    REFERENCE_PROFILE_ARTIFACT,
    SKOPS_TRUSTED_TYPES,
    TRAINING_PROFILE_ARTIFACT,
    VALIDATION_REPORT_ARTIFACT,
    Env,
    Tag,
)
from mlops_contract.profile import build_profile
from training.baseline import baseline_score
from training.config import ConfigError, ModelKind, TrainConfig
from training.data import Dataset, Split, load_dataset, split
from training.drift_reference import ReferenceSource, reference_rows
from training.evaluate import evaluate
from training.feedback_data import LabelledTraffic, read_labelled_traffic
from training.gate import Decision, GateResult, GateScores, decide_guarded
from training.lineage import dataset_source, inference_log_source
from training.pipeline import build_pipeline, pipeline_params
from training.promotion import Lease, compare_and_set_champion, promotion_lock
from training.reference import champion_reference
from training.registry import Champion, apply_decision, current_champion, record_decision
from training.runs import PENDING, RUN_DEADLINE_TAG, mark_versions_failed, sweep_abandoned
from training.tracking import bound_mlflow_calls, probe_tracking_server
from training.training_set import TrainingSet, build_training_set
from training.validation import (
    ValidationReport,
    check_against_reference,
    check_sanity,
    label_set,
)

Reporter = Callable[[str], None]


@dataclass(frozen=True)
class TrainResult:
    """What one training run produced and what the gate decided."""

    run_id: str
    model_name: str
    model_version: str
    promoted: bool
    reason: str
    gate_metric: str
    candidate_score: float
    champion_score: float | None
    champion_version_before: str | None
    metrics: dict[str, float] = field(default_factory=dict)
    duration_seconds: float = 0.0


def code_version() -> str:
    """This project's package version."""
    try:
        return metadata.version("mlops-platform")
    except metadata.PackageNotFoundError:
        return "unknown"


def trusted_types(cfg: TrainConfig) -> list[str] | None:
    """Types the skops format must be told to trust for this model kind (we built the file ourselves)."""
    if cfg.model in {ModelKind.RANDOM_FOREST, ModelKind.DECISION_TREE}:
        return list(SKOPS_TRUSTED_TYPES)
    return None


def _lineage_tags(cfg: TrainConfig, dataset: Dataset, digest: str, parts: TrainingSet) -> dict[str, str]:
    tags = {
        Tag.DATASET_NAME.value: dataset.name,
        Tag.DATASET_DIGEST.value: digest,
        Tag.DATASET_SOURCE.value: cfg.dataset,
        Tag.CODE_VERSION.value: code_version(),
        Tag.FEEDBACK_ROWS.value: str(parts.traffic_rows),
        Tag.GATE_HOLDOUT.value: parts.holdout_source.value,
    }
    origin = dataset.origin
    if origin is not None and origin.sha256 is not None:
        tags[Tag.DATASET_SHA256.value] = origin.sha256
    if origin is not None and origin.snapshot is not None:
        tags[Tag.DATASET_SNAPSHOT.value] = origin.snapshot
    if cfg.git_commit:
        tags[Tag.GIT_COMMIT.value] = cfg.git_commit
    return tags


def load_traffic(cfg: TrainConfig, dataset: Dataset) -> LabelledTraffic | None:
    """Labelled requests of the configured window, or None when no inference log is configured."""
    if cfg.feedback_dir is None:
        return None
    since = datetime.now(UTC) - timedelta(hours=cfg.feedback_window_hours)
    columns = [str(c) for c in dataset.features.columns]
    return read_labelled_traffic(
        Path(cfg.feedback_dir), since, columns, dataset.target, recent_rows=cfg.reference_recent_rows
    )


def _gate(cfg: TrainConfig, scores: GateScores, champion: Champion | None) -> GateResult:
    metric = cfg.gate_metric.value
    if champion is not None and champion.score is None:
        # Never replace a champion we could not compare against: an operator decides that.
        return GateResult(Decision.REJECTED, f"champion v{champion.version}: {champion.note}")
    return decide_guarded(metric, scores, cfg.promotion_margin, cfg.promotion_floor, cfg.baseline_margin)


def _trusted_holdout(cfg: TrainConfig, dataset: Dataset) -> Split | None:
    """The pinned evaluation set's seeded holdout; None when it is the training dataset itself."""
    if cfg.eval_dataset is None or cfg.eval_dataset == cfg.dataset:
        return None
    trusted = load_dataset(replace(cfg, dataset=cfg.eval_dataset))
    missing = [c for c in dataset.features.columns if c not in trusted.features.columns]
    if missing:
        raise ConfigError(
            f"--eval-dataset/{Env.EVAL_DATASET}: {trusted.name} lacks feature column(s) "
            f"{', '.join(map(str, missing))} of the training data"
        )
    trusted = replace(trusted, features=trusted.features[list(dataset.features.columns)])
    return split(trusted, cfg)


def _validate_before_run(
    client: MlflowClient, cfg: TrainConfig, dataset: Dataset, sanity: ValidationReport
) -> ValidationReport:
    reference = champion_reference(client, cfg.model_name)
    if reference is None:
        return sanity
    validation = sanity.merged(check_against_reference(dataset, reference, cfg.validation))
    validation.raise_if_failed(dataset.name)
    return validation


def _log_validation(validation: ValidationReport) -> None:
    import mlflow

    mlflow.log_text(validation.to_json(), VALIDATION_REPORT_ARTIFACT)
    mlflow.set_tags(
        {
            Tag.VALIDATION_STATUS.value: validation.status,
            Tag.VALIDATION_STRICTNESS.value: validation.strictness.value,
        }
    )
    finite_psi = [v for v in validation.psi.values() if math.isfinite(v)]
    mlflow.log_metrics(
        {
            "validation_findings": float(len(validation.findings)),
            **({"validation_max_psi": max(finite_psi)} if finite_psi else {}),
        }
    )


def _mark_failed(
    client: MlflowClient,
    cfg: TrainConfig,
    run_id: str,
    version: str | None,
    exc: BaseException,
    report: Reporter,
) -> None:
    """Best effort (MLflow may be what failed): version tagged failed, run ended FAILED."""
    import mlflow

    try:
        if version is not None:
            mark_versions_failed(client, cfg.model_name, run_id, f"training failed: {type(exc).__name__}")
        mlflow.end_run(RunStatus.to_string(RunStatus.FAILED))
    except Exception as cleanup_exc:  # the original error is the one to report; the sweep finishes this
        report(
            f"could not mark run {run_id} FAILED ({type(cleanup_exc).__name__}); "
            "the next training marks it once its deadline has passed"
        )


def train(cfg: TrainConfig, report: Reporter = print) -> TrainResult:
    """Run the whole lifecycle against the tracking server in cfg; the run ends FAILED on any error."""
    started = time.monotonic()
    # Bad input is reported before the network is touched; then a bounded probe before any MLflow call.
    dataset: Dataset = load_dataset(cfg)
    sanity = check_sanity(dataset, cfg.validation, cfg.min_rows_per_class)
    sanity.raise_if_failed(dataset.name)
    traffic = load_traffic(cfg, dataset)
    parts = build_training_set(dataset, traffic, cfg)
    trusted = _trusted_holdout(cfg, dataset)
    probe_tracking_server(cfg, report)
    bound_mlflow_calls(cfg)
    report(
        f"dataset {dataset.name} ({dataset.source}): {len(dataset.features)} rows, "
        f"{dataset.features.shape[1]} features"
    )
    if traffic is not None:
        report(traffic.summary())
    report(
        f"training on {len(parts.x_train)} rows ({parts.traffic_rows} from labelled traffic), "
        f"holdout {len(parts.x_holdout)} rows from the {parts.holdout_source.value}"
    )

    import mlflow

    mlflow.set_tracking_uri(cfg.tracking_uri)
    experiment = mlflow.set_experiment(cfg.experiment)
    client = mlflow.MlflowClient(tracking_uri=cfg.tracking_uri)
    sweep_abandoned(client, experiment.experiment_id, cfg.model_name, report)
    validation = _validate_before_run(client, cfg, dataset, sanity)
    for finding in validation.findings:
        report(f"validation {finding.severity.value}: {finding.message}")

    deadline = time.time() + cfg.max_run_seconds
    run = mlflow.start_run(tags={RUN_DEADLINE_TAG: f"{deadline:.0f}"})
    progress: dict[str, str] = {}
    try:
        result = _run(cfg, client, dataset, (parts, traffic), trusted, validation, deadline, progress, report)
    except BaseException as exc:
        _mark_failed(client, cfg, run.info.run_id, progress.get("version"), exc, report)
        raise
    mlflow.end_run()
    return replace(result, run_id=run.info.run_id, duration_seconds=time.monotonic() - started)


def _run(
    cfg: TrainConfig,
    client: MlflowClient,
    dataset: Dataset,
    data: tuple[TrainingSet, LabelledTraffic | None],
    trusted: Split | None,
    validation: ValidationReport,
    deadline: float,
    progress: dict[str, str],
    report: Reporter,
) -> TrainResult:
    import mlflow
    import mlflow.data.pandas_dataset
    import mlflow.sklearn
    from mlflow.models import infer_signature

    metric = cfg.gate_metric.value
    parts, traffic = data
    mlflow_dataset = mlflow.data.pandas_dataset.from_pandas(
        dataset.frame,
        source=dataset_source(dataset.origin, dataset.source),
        name=dataset.name,
        targets=dataset.target_name,
    )
    mlflow.log_input(mlflow_dataset, context="training")
    if traffic is not None and cfg.feedback_dir is not None and len(traffic.features):
        frame = traffic.features.assign(**{dataset.target_name: traffic.target.to_numpy()})
        mlflow.log_input(
            mlflow.data.pandas_dataset.from_pandas(
                frame,
                source=inference_log_source(str(Path(cfg.feedback_dir).resolve())),
                name="labelled-traffic",
                targets=dataset.target_name,
            ),
            context="feedback",
        )
    lineage = _lineage_tags(cfg, dataset, mlflow_dataset.digest, parts)
    lineage[Tag.DATASET_LABELS.value] = label_set(dataset.target)
    mlflow.set_tags(lineage)
    mlflow.log_params(pipeline_params(cfg))
    _log_validation(validation)

    fit_started = time.monotonic()
    weights = {} if parts.sample_weight is None else {"model__sample_weight": parts.sample_weight}
    pipeline = build_pipeline(cfg).fit(parts.x_train, parts.y_train, **weights)
    fit_seconds = time.monotonic() - fit_started
    metrics = evaluate(pipeline, parts.x_holdout, parts.y_holdout)
    if metric not in metrics:
        raise ValueError(
            f"gate metric {metric!r} is not available for this model (have: {', '.join(metrics)})"
        )
    baseline = baseline_score(metric, parts.y_train, parts.x_holdout, parts.y_holdout)
    trusted_scores: dict[str, float] = {}
    if trusted is not None:
        trusted_scores = {
            "trusted_candidate": evaluate(pipeline, trusted.x_holdout, trusted.y_holdout)[metric],
            "trusted_baseline": baseline_score(metric, parts.y_train, trusted.x_holdout, trusted.y_holdout),
        }
    mlflow.log_metrics(
        {
            **metrics,
            "fit_seconds": fit_seconds,
            f"baseline_{metric}": baseline,
            **{f"{k}_{metric}": v for k, v in trusted_scores.items()},
        }
    )
    report(
        "holdout "
        + ", ".join(f"{k}={v:.4f}" for k, v in metrics.items())
        + f" (baseline {metric}={baseline:.4f}; fit {fit_seconds:.2f}s)"
    )

    columns = [str(c) for c in parts.x_train.columns]
    trained = build_profile(parts.x_train.to_numpy(), columns)
    reference = reference_rows(parts, traffic, cfg)
    recent = reference.source is ReferenceSource.RECENT_TRAFFIC
    drift = build_profile(reference.rows.to_numpy(), columns) if recent else trained
    mlflow.log_text(trained.to_json(), TRAINING_PROFILE_ARTIFACT)
    mlflow.log_text(drift.to_json(), REFERENCE_PROFILE_ARTIFACT)
    # On the run and, with the lineage, on the version: the world its drift is measured from.
    lineage[Tag.REFERENCE_SOURCE.value] = reference.source.value
    lineage[Tag.REFERENCE_ROWS.value] = str(len(reference.rows))
    mlflow.set_tags({key: lineage[key] for key in (Tag.REFERENCE_SOURCE.value, Tag.REFERENCE_ROWS.value)})
    report(f"drift reference profile: {len(reference.rows)} rows from the {reference.source.value}")

    # A named column, so string classes are typed `string` (a bare array of them is an `object` tensor).
    predicted = pd.Series(pipeline.predict(parts.x_train), name=dataset.target_name)
    signature = infer_signature(parts.x_train, predicted)
    info = mlflow.sklearn.log_model(
        pipeline,
        name="model",
        signature=signature,
        input_example=parts.x_train.head(3),
        # Explicit requirements skip MLflow's slow inference (it would probe the environment).
        pip_requirements=mlflow.sklearn.get_default_pip_requirements(),
        skops_trusted_types=trusted_types(cfg),
    )
    # Registered with its tags in one call: a version born `pending` is never mistaken for a gated one, even
    # if this process dies before the gate (the next training's sweep then tags it failed).
    registered = mlflow.register_model(
        info.model_uri,
        cfg.model_name,
        tags={**lineage, Tag.GATE_DECISION.value: PENDING},
    )
    version = str(registered.version)
    progress["version"] = version
    report(f"registered {cfg.model_name} version {version}")

    if time.time() > deadline:
        raise TimeoutError(f"run exceeded --max-run-seconds {cfg.max_run_seconds:.0f} before the gate")
    holdout = (parts.x_holdout, parts.y_holdout)
    trusted_holdout = None if trusted is None else (trusted.x_holdout, trusted.y_holdout)
    with promotion_lock(client, cfg.model_name, cfg.lock_ttl_seconds, cfg.lock_wait_seconds, report) as lease:
        champion, gate = _gate_and_promote(
            cfg, lease, version, metrics[metric], baseline, trusted_scores, holdout, trusted_holdout, report
        )
        record_decision(client, cfg.model_name, version, metric, metrics[metric], champion, gate)
        extra = {
            Tag.GATE_BASELINE_SCORE: f"{baseline:.6f}",
            Tag.GATE_CHAMPION_VERSION: "" if champion is None else champion.version,
        }
        if trusted is not None:
            extra[Tag.GATE_TRUSTED_CANDIDATE_SCORE] = f"{trusted_scores['trusted_candidate']:.6f}"
            extra[Tag.GATE_TRUSTED_CHAMPION_SCORE] = (
                "" if champion is None or champion.trusted_score is None else f"{champion.trusted_score:.6f}"
            )
        for key, value in extra.items():
            client.set_model_version_tag(cfg.model_name, version, key, value)
        mlflow.set_tags({Tag.GATE_DECISION.value: gate.decision.value, Tag.GATE_REASON.value: gate.reason})
        if not gate.promoted:
            apply_decision(client, cfg.model_name, version, gate)

    return TrainResult(
        run_id="",
        model_name=cfg.model_name,
        model_version=version,
        promoted=gate.promoted,
        reason=gate.reason,
        gate_metric=metric,
        candidate_score=metrics[metric],
        champion_score=None if champion is None else champion.score,
        champion_version_before=None if champion is None else champion.version,
        metrics=metrics,
    )


# A champion that changes under us again and again means a storm of trainings; give up rather than spin.
_CAS_ATTEMPTS = 3


def _gate_and_promote(
    cfg: TrainConfig,
    lease: Lease,
    version: str,
    candidate: float,
    baseline: float,
    trusted_scores: dict[str, float],
    holdout: tuple[pd.DataFrame, pd.Series],
    trusted_holdout: tuple[pd.DataFrame, pd.Series] | None,
    report: Reporter,
) -> tuple[Champion | None, GateResult]:
    """Score the champion, decide, and move the alias only if the champion is still the one just scored."""
    metric = cfg.gate_metric.value
    champion: Champion | None = None
    for _ in range(_CAS_ATTEMPTS):
        champion = current_champion(lease.client, cfg.model_name, metric, *holdout, trusted=trusted_holdout)
        scores = GateScores(
            candidate=candidate,
            champion=None if champion is None else champion.score,
            baseline=baseline,
            trusted_candidate=trusted_scores.get("trusted_candidate"),
            trusted_champion=None if champion is None else champion.trusted_score,
            trusted_baseline=trusted_scores.get("trusted_baseline"),
        )
        gate = _gate(cfg, scores, champion)
        expected = None if champion is None else champion.version
        if not gate.promoted or compare_and_set_champion(lease, cfg.model_name, expected, version):
            return champion, gate
        report(f"the champion changed since v{expected} was scored; gating again")
    return champion, GateResult(
        Decision.REJECTED, f"the champion changed {_CAS_ATTEMPTS} times while this candidate was gated"
    )
