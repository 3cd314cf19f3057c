"""Environment variable names, registry aliases, ports and tag keys shared across the platform.

Infra writes these into pod specs; training and serving read them. Changing a value here changes both sides.
"""

from enum import StrEnum
from typing import Final


class Env(StrEnum):
    """Environment variables the training and serving containers read."""

    # MLflow's own client variables: training's MLflow SDK reads them directly, serving's registry client
    # through its Settings, so one set configures both.
    TRACKING_URI = "MLFLOW_TRACKING_URI"
    TRACKING_USERNAME = "MLFLOW_TRACKING_USERNAME"
    TRACKING_PASSWORD = "MLFLOW_TRACKING_PASSWORD"  # noqa: S105 - a variable name, not a secret
    TRACKING_TOKEN = "MLFLOW_TRACKING_TOKEN"  # noqa: S105 - a variable name, not a secret
    TRACKING_INSECURE_TLS = "MLFLOW_TRACKING_INSECURE_TLS"
    TRACKING_CA_BUNDLE = "MLFLOW_TRACKING_SERVER_CERT_PATH"
    HTTP_REQUEST_TIMEOUT = "MLFLOW_HTTP_REQUEST_TIMEOUT"
    HTTP_REQUEST_MAX_RETRIES = "MLFLOW_HTTP_REQUEST_MAX_RETRIES"
    HTTP_REQUEST_BACKOFF_FACTOR = "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"

    MODEL_NAME = "MLOPS_MODEL_NAME"
    MODEL_ALIAS = "MLOPS_MODEL_ALIAS"
    RELOAD_INTERVAL_SECONDS = "MLOPS_RELOAD_INTERVAL_SECONDS"
    MAX_BATCH_ROWS = "MLOPS_MAX_BATCH_ROWS"
    MAX_BODY_BYTES = "MLOPS_MAX_BODY_BYTES"
    SERVING_HOST = "MLOPS_SERVING_HOST"
    SERVING_PORT = "MLOPS_SERVING_PORT"
    SERVING_METRICS_PORT = "MLOPS_SERVING_METRICS_PORT"
    DRIFT_WINDOW = "MLOPS_DRIFT_WINDOW"
    LOG_LEVEL = "MLOPS_LOG_LEVEL"
    TRUSTED_TYPES = "MLOPS_TRUSTED_TYPES"
    # Serving limits (admission control, read timeouts, reload backoff); docs/reliability.md explains them.
    MAX_IN_FLIGHT = "MLOPS_MAX_IN_FLIGHT"
    MAX_QUEUED_ROWS = "MLOPS_MAX_QUEUED_ROWS"
    MAX_BUFFERED_BYTES = "MLOPS_MAX_BUFFERED_BYTES"
    MAX_CONNECTIONS = "MLOPS_MAX_CONNECTIONS"
    HEADER_TIMEOUT_SECONDS = "MLOPS_HEADER_TIMEOUT_SECONDS"
    BODY_TIMEOUT_SECONDS = "MLOPS_BODY_TIMEOUT_SECONDS"
    KEEPALIVE_SECONDS = "MLOPS_KEEPALIVE_SECONDS"
    RELOAD_RETRY_MAX_SECONDS = "MLOPS_RELOAD_RETRY_MAX_SECONDS"
    BROKEN_VERSION_RETRY_SECONDS = "MLOPS_BROKEN_VERSION_RETRY_SECONDS"
    # Inference log (opt-in: unset directory = off); formats in mlops_contract.inference_log.
    INFERENCE_LOG_DIR = "MLOPS_INFERENCE_LOG_DIR"
    INFERENCE_LOG_SAMPLE_RATE = "MLOPS_INFERENCE_LOG_SAMPLE_RATE"
    INFERENCE_LOG_MAX_BYTES = "MLOPS_INFERENCE_LOG_MAX_BYTES"
    INFERENCE_LOG_FILE_BYTES = "MLOPS_INFERENCE_LOG_FILE_BYTES"
    INFERENCE_LOG_ROTATE_SECONDS = "MLOPS_INFERENCE_LOG_ROTATE_SECONDS"
    FEEDBACK_MAX_AGE_SECONDS = "MLOPS_FEEDBACK_MAX_AGE_SECONDS"

    EXPERIMENT = "MLOPS_EXPERIMENT"
    DATASET = "MLOPS_DATASET"
    TARGET_COLUMN = "MLOPS_TARGET_COLUMN"
    # The inference log directory (mlops_contract/inference_log.py): serving writes it, retraining reads it.
    FEEDBACK_WINDOW_HOURS = "MLOPS_FEEDBACK_WINDOW_HOURS"
    FEEDBACK_WEIGHT = "MLOPS_FEEDBACK_WEIGHT"
    PROMOTION_MARGIN = "MLOPS_PROMOTION_MARGIN"
    PROMOTION_FLOOR = "MLOPS_PROMOTION_FLOOR"
    GIT_COMMIT = "MLOPS_GIT_COMMIT"
    BASELINE_MARGIN = "MLOPS_BASELINE_MARGIN"
    EVAL_DATASET = "MLOPS_EVAL_DATASET"
    VALIDATION = "MLOPS_VALIDATION"
    # Retrain trigger (Alertmanager webhook receiver).
    TRIGGER_BACKEND = "MLOPS_TRIGGER_BACKEND"
    TRIGGER_HOST = "MLOPS_TRIGGER_HOST"
    TRIGGER_PORT = "MLOPS_TRIGGER_PORT"
    NAMESPACE = "MLOPS_NAMESPACE"
    RETRAIN_CRONJOB = "MLOPS_RETRAIN_CRONJOB"
    TRIGGER_TOKEN_FILE = "MLOPS_TRIGGER_TOKEN_FILE"  # noqa: S105 - a variable name, not a secret
    TRIGGER_MAX_ACTIVE = "MLOPS_TRIGGER_MAX_ACTIVE"
    TRIGGER_MAX_BODY_BYTES = "MLOPS_TRIGGER_MAX_BODY_BYTES"


DEFAULT_MODEL_NAME: Final = "mlops-classifier"
DEFAULT_EXPERIMENT: Final = "mlops-training"
CHAMPION_ALIAS: Final = "champion"
CHALLENGER_ALIAS: Final = "challenger"

# Types outside skops' default allow-list that the platform's own model kinds contain (tree estimators keep
# their fitted state in this Cython class). Training declares them when logging; serving trusts them.
SKOPS_TRUSTED_TYPES: Final = ("sklearn.tree._tree.Tree",)

MLFLOW_SERVICE_NAME: Final = "mlflow"
MLFLOW_PORT: Final = 5000
SERVING_SERVICE_NAME: Final = "serving"
SERVING_PORT: Final = 8000
# Serving finishes in-flight requests for this long after SIGTERM; the pod's grace period and the dev
# loop's stop wait longer than this.
SERVING_SHUTDOWN_GRACE_SECONDS: Final = 20
# /metrics has its own listener: scraping (which recomputes drift) is not on the public port.
SERVING_METRICS_PORT: Final = 9100
RETRAIN_TRIGGER_SERVICE_NAME: Final = "retrain-trigger"
RETRAIN_TRIGGER_PORT: Final = 8080
RETRAIN_CRONJOB_NAME: Final = "training-retrain"

# The inference log volume: a PVC serving writes and training reads.
INFERENCE_LOG_CLAIM: Final = "inference-log"
INFERENCE_LOG_MOUNT_PATH: Final = "/var/lib/mlops/inference-log"

# The training-data volume: dated snapshots (training reads the newest; training.snapshots adds them).
TRAINING_DATA_CLAIM: Final = "training-data"
TRAINING_DATA_DIR: Final = "/var/lib/mlops/training-data"

# Writable scratch space inside read-only-root containers (an emptyDir in the cluster).
CONTAINER_TMP_DIR: Final = "/tmp"  # noqa: S108 - a mount point, backed by an emptyDir


class Route(StrEnum):
    """Serving HTTP routes (probes and scrape config refer to them)."""

    HEALTHZ = "/healthz"
    READYZ = "/readyz"
    PREDICT = "/v1/predict"
    MODEL = "/v1/model"
    FEEDBACK = "/v1/feedback"
    METRICS = "/metrics"
    ALERTS = "/v1/alerts"  # retrain trigger: Alertmanager webhook


class Tag(StrEnum):
    """Tag keys training writes on runs and model versions."""

    GATE_DECISION = "mlops.gate.decision"
    GATE_REASON = "mlops.gate.reason"
    GATE_METRIC = "mlops.gate.metric"
    GATE_CANDIDATE_SCORE = "mlops.gate.candidate_score"
    GATE_CHAMPION_SCORE = "mlops.gate.champion_score"
    GATE_CHAMPION_VERSION = "mlops.gate.champion_version"
    GATE_BASELINE_SCORE = "mlops.gate.baseline_score"
    GATE_TRUSTED_CANDIDATE_SCORE = "mlops.gate.trusted_candidate_score"
    GATE_TRUSTED_CHAMPION_SCORE = "mlops.gate.trusted_champion_score"
    DATASET_LABELS = "mlops.dataset.labels"
    VALIDATION_STATUS = "mlops.validation.status"
    VALIDATION_STRICTNESS = "mlops.validation.strictness"
    # On a registered model: the promotion lease (see training/promotion.py).
    PROMOTION_LOCK_OWNER = "mlops.promotion.lock_owner"
    PROMOTION_LOCK_EXPIRES = "mlops.promotion.lock_expires"
    DATASET_NAME = "mlops.dataset.name"
    DATASET_DIGEST = "mlops.dataset.digest"
    DATASET_SOURCE = "mlops.dataset.source"
    DATASET_SHA256 = "mlops.dataset.sha256"
    DATASET_SNAPSHOT = "mlops.dataset.snapshot"
    FEEDBACK_ROWS = "mlops.feedback.rows"
    GATE_HOLDOUT = "mlops.gate.holdout"
    # Where the drift reference profile's rows came from (training/drift_reference.py) and how many.
    REFERENCE_SOURCE = "mlops.reference.source"
    REFERENCE_ROWS = "mlops.reference.rows"
    GIT_COMMIT = "mlops.git.commit"
    CODE_VERSION = "mlops.code.version"


# Run-artifact path of the training feature reference profile (on the run that logged the model version).
REFERENCE_PROFILE_ARTIFACT: Final = "reference_profile.json"
# Run-artifact path of the profile of the rows the version was fit on: data validation's reference
# (training/reference.py). The drift reference above may be recent traffic (training/drift_reference.py).
TRAINING_PROFILE_ARTIFACT: Final = "training_profile.json"
# Run-artifact path of the data validation report.
VALIDATION_REPORT_ARTIFACT: Final = "validation_report.json"
