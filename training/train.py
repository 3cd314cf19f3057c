"""train(cfg): load -> split -> fit -> evaluate -> log -> register -> gate -> (maybe) promote."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path

import pandas as pd

from mlops_contract.names import REFERENCE_PROFILE_ARTIFACT, SKOPS_TRUSTED_TYPES, Tag
from mlops_contract.profile import build_profile
from training.config import ModelKind, TrainConfig
from training.data import Dataset, load_dataset
from training.evaluate import evaluate
from training.feedback_data import LabelledTraffic, read_labelled_traffic
from training.gate import Decision, GateResult, decide
from training.lineage import dataset_source, inference_log_source
from training.pipeline import build_pipeline, pipeline_params
from training.registry import Champion, apply_decision, current_champion, record_decision
from training.tracking import probe_tracking_server
from training.training_set import TrainingSet, build_training_set

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
    return read_labelled_traffic(Path(cfg.feedback_dir), since, columns, dataset.target)


def _gate(cfg: TrainConfig, candidate_score: float, champion: Champion | None) -> GateResult:
    metric = cfg.gate_metric.value
    if champion is not None and champion.score is None:
        # Never replace a champion we could not compare against: an operator decides that.
        return GateResult(Decision.REJECTED, f"champion v{champion.version}: {champion.note}")
    return decide(
        metric,
        candidate_score,
        None if champion is None else champion.score,
        cfg.promotion_margin,
        cfg.promotion_floor,
    )


def train(cfg: TrainConfig, report: Reporter = print) -> TrainResult:
    """Run the whole lifecycle against the tracking server in cfg; the run ends FAILED on any error."""
    started = time.monotonic()
    # Bad input is reported before the network is touched; then a bounded probe before any MLflow call.
    dataset: Dataset = load_dataset(cfg)
    traffic = load_traffic(cfg, dataset)
    parts = build_training_set(dataset, traffic, cfg)
    probe_tracking_server(cfg, report)
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
    import mlflow.data.pandas_dataset
    import mlflow.sklearn
    from mlflow.models import infer_signature

    mlflow.set_tracking_uri(cfg.tracking_uri)
    mlflow.set_experiment(cfg.experiment)
    client = mlflow.MlflowClient(tracking_uri=cfg.tracking_uri)
    metric = cfg.gate_metric.value

    with mlflow.start_run() as run:
        # The context manager ends the run FAILED if anything below raises; the alias moves only at the end.
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
        mlflow.set_tags(lineage)
        mlflow.log_params(pipeline_params(cfg))

        fit_started = time.monotonic()
        weights = {} if parts.sample_weight is None else {"model__sample_weight": parts.sample_weight}
        pipeline = build_pipeline(cfg).fit(parts.x_train, parts.y_train, **weights)
        fit_seconds = time.monotonic() - fit_started
        metrics = evaluate(pipeline, parts.x_holdout, parts.y_holdout)
        if metric not in metrics:
            raise ValueError(
                f"gate metric {metric!r} is not available for this model (have: {', '.join(metrics)})"
            )
        mlflow.log_metrics({**metrics, "fit_seconds": fit_seconds})
        report(
            "holdout " + ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()) + f" (fit {fit_seconds:.2f}s)"
        )

        profile = build_profile(parts.x_train.to_numpy(), [str(c) for c in parts.x_train.columns])
        mlflow.log_text(profile.to_json(), REFERENCE_PROFILE_ARTIFACT)

        # A named column, so string classes are typed `string` (a bare array of them is an `object` tensor).
        predicted = pd.Series(pipeline.predict(parts.x_train), name=dataset.target_name)
        signature = infer_signature(parts.x_train, predicted)
        info = mlflow.sklearn.log_model(
            pipeline,
            name="model",
            signature=signature,
            input_example=parts.x_train.head(3),
            registered_model_name=cfg.model_name,
            # Explicit requirements skip MLflow's slow inference (it would probe the environment).
            pip_requirements=mlflow.sklearn.get_default_pip_requirements(),
            skops_trusted_types=trusted_types(cfg),
        )
        version = str(info.registered_model_version)
        for key, value in lineage.items():
            client.set_model_version_tag(cfg.model_name, version, key, value)
        report(f"registered {cfg.model_name} version {version}")

        champion = current_champion(client, cfg.model_name, metric, parts.x_holdout, parts.y_holdout)
        gate = _gate(cfg, metrics[metric], champion)
        record_decision(client, cfg.model_name, version, metric, metrics[metric], champion, gate)
        mlflow.set_tags({Tag.GATE_DECISION.value: gate.decision.value, Tag.GATE_REASON.value: gate.reason})
        apply_decision(client, cfg.model_name, version, gate)

    return TrainResult(
        run_id=run.info.run_id,
        model_name=cfg.model_name,
        model_version=version,
        promoted=gate.promoted,
        reason=gate.reason,
        gate_metric=metric,
        candidate_score=metrics[metric],
        champion_score=None if champion is None else champion.score,
        champion_version_before=None if champion is None else champion.version,
        metrics=metrics,
        duration_seconds=time.monotonic() - started,
    )
