"""Training: a bootstrap Job Pulumi awaits (a fresh stack gets a champion) and a retraining CronJob."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
from pulumi import Input, Output, ResourceOptions

from infra.components.job_pod import JobContainer, Volume, job_pod_spec
from infra.components.namespace import TRAINING_APP
from infra.components.pod_security import Resources, labels, service_account, tmp_dir
from infra.components.workloads import MlflowClientArgs, mlflow_client_env, plain_env
from mlops_contract.names import INFERENCE_LOG_MOUNT_PATH, TRAINING_DATA_DIR, Env

TRAINING_RESOURCES = Resources(200, 512, 1000, 1024)
CRONJOB_NAME = "training-retrain"
BOOTSTRAP_JOB_NAME = "training-bootstrap"
REPLACE_UNREADY_ANNOTATION = "pulumi.com/replaceUnready"


@dataclass(frozen=True)
class TrainingJobsArgs:
    """What to train, where to log it, and when to retrain."""

    namespace: Input[str]
    """Target namespace."""
    stack: str
    """Stack name (labels)."""
    image: Input[str]
    """Training image."""
    mlflow: MlflowClientArgs
    """Tracking server and credentials."""
    model_name: str
    """Registered model name."""
    dataset: str
    """Dataset URI (training/sources.py); the training-data mount path for the snapshot volume."""
    target_column: str | None
    """Target column of a CSV dataset."""
    training_data_claim: Input[str]
    """Claim with the dated snapshots (mounted read-only)."""
    feedback_window_hours: float
    """Labelled traffic of this many hours joins the training data."""
    feedback_weight: float
    """Sample weight of a labelled-traffic row."""
    promotion_margin: float
    """Gate margin."""
    promotion_floor: float
    """Gate floor."""
    validation: str
    """Data validation strictness (strict, standard, lenient)."""
    schedule: str
    """Retraining cron schedule."""
    code_version: Input[str]
    """Recorded on runs (the training image's content hash)."""
    inference_log_claim: Input[str] | None = None
    """Claim with serving's inference log and feedback (mounted read-only; None: the stack keeps no log)."""
    trusted_holdout: str | None = None
    """The gate's pinned evaluation set (training's MLOPS_EVAL_DATASET); None: the training data's holdout."""


def _no_pickle_env() -> list[k8s.core.v1.EnvVarArgs]:
    """Training loads models through the skops allow-list only; this makes MLflow's own loaders refuse
    pickle too, should any code path reach them."""
    return [k8s.core.v1.EnvVarArgs(name="MLFLOW_ALLOW_PICKLE_DESERIALIZATION", value="false")]


class TrainingJobs(pulumi.ComponentResource):
    """Bootstrap Job + retraining CronJob sharing one pod template."""

    bootstrap_job: k8s.batch.v1.Job
    """Awaited by Pulumi: depend on it to start after a champion exists."""
    cronjob_name: Output[str]
    """Name of the retraining CronJob (the retrain trigger creates Jobs from it)."""
    pod_template: k8s.core.v1.PodTemplateSpecArgs
    """The retraining pod template: what a Job cloned from the CronJob must look like (admission policy)."""
    requests: dict[str, Resources]
    """Container resources, for the stack's budget output."""

    def __init__(self, name: str, args: TrainingJobsArgs, opts: ResourceOptions | None = None) -> None:
        super().__init__("mlops:index:TrainingJobs", name, None, opts)
        pod_labels = labels(args.stack, TRAINING_APP, "training")
        account = service_account(f"{name}-training", TRAINING_APP, args.namespace, pod_labels, self)
        env = [
            *mlflow_client_env(args.mlflow),
            *plain_env(
                {
                    Env.MODEL_NAME: args.model_name,
                    Env.DATASET: args.dataset,
                    Env.PROMOTION_MARGIN: str(args.promotion_margin),
                    Env.PROMOTION_FLOOR: str(args.promotion_floor),
                    Env.FEEDBACK_WINDOW_HOURS: str(args.feedback_window_hours),
                    Env.FEEDBACK_WEIGHT: str(args.feedback_weight),
                    **({Env.TARGET_COLUMN: args.target_column} if args.target_column else {}),
                    # Set only where the log is mounted: training then learns from its labelled requests.
                    **({Env.INFERENCE_LOG_DIR: INFERENCE_LOG_MOUNT_PATH} if args.inference_log_claim else {}),
                    Env.VALIDATION: args.validation,
                    # Unset, not empty, without one: training refuses an empty evaluation set name.
                    **({Env.EVAL_DATASET: args.trusted_holdout} if args.trusted_holdout else {}),
                }
            ),
            k8s.core.v1.EnvVarArgs(name=Env.GIT_COMMIT, value=args.code_version),
        ]
        container = JobContainer(
            name="training", image=args.image, env=[*env, *_no_pickle_env()], resources=TRAINING_RESOURCES
        )
        pod = k8s.core.v1.PodTemplateSpecArgs(
            metadata=k8s.meta.v1.ObjectMetaArgs(labels=pod_labels),
            spec=job_pod_spec(account, container, volumes=[tmp_dir(1024), *_data_volumes(args)]),
        )
        self.bootstrap_job = k8s.batch.v1.Job(
            f"{name}-bootstrap",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=BOOTSTRAP_JOB_NAME,
                namespace=args.namespace,
                labels=pod_labels,
                # A failed Job never becomes ready again: without this the next `pulumi up` re-awaits it until
                # the timeout; with it pulumi-kubernetes replaces the unready Job, i.e. trains again.
                annotations={REPLACE_UNREADY_ANNOTATION: "true"},
            ),
            # No ttlSecondsAfterFinished: Pulumi owns this Job; a TTL would delete it behind Pulumi's back.
            spec=k8s.batch.v1.JobSpecArgs(backoff_limit=3, active_deadline_seconds=1200, template=pod),
            opts=ResourceOptions(parent=self, custom_timeouts=pulumi.CustomTimeouts(create="20m")),
        )
        cron = k8s.batch.v1.CronJob(
            f"{name}-retrain",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=CRONJOB_NAME, namespace=args.namespace, labels=pod_labels
            ),
            spec=k8s.batch.v1.CronJobSpecArgs(
                schedule=args.schedule,
                concurrency_policy="Forbid",
                starting_deadline_seconds=600,
                successful_jobs_history_limit=3,
                failed_jobs_history_limit=3,
                job_template=k8s.batch.v1.JobTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=pod_labels),
                    spec=k8s.batch.v1.JobSpecArgs(
                        backoff_limit=1,
                        active_deadline_seconds=1800,
                        ttl_seconds_after_finished=86400,
                        template=pod,
                    ),
                ),
            ),
            opts=ResourceOptions(parent=self),
        )
        self.pod_template = pod
        self.cronjob_name = Output.all(cron.id, CRONJOB_NAME).apply(lambda parts: str(parts[1]))
        self.requests = {"training": TRAINING_RESOURCES}
        self.register_outputs({"cronjob_name": self.cronjob_name})


def _data_volumes(args: TrainingJobsArgs) -> list[Volume]:
    """Snapshots and the inference log, read-only: training never changes its own inputs."""
    claims: list[tuple[str, Input[str], str]] = [
        ("training-data", args.training_data_claim, TRAINING_DATA_DIR)
    ]
    if args.inference_log_claim is not None:
        claims.append(("inference-log", args.inference_log_claim, INFERENCE_LOG_MOUNT_PATH))
    return [
        (
            k8s.core.v1.VolumeArgs(
                name=volume,
                persistent_volume_claim=k8s.core.v1.PersistentVolumeClaimVolumeSourceArgs(
                    claim_name=claim, read_only=True
                ),
            ),
            k8s.core.v1.VolumeMountArgs(name=volume, mount_path=path, read_only=True),
        )
        for volume, claim, path in claims
    ]
