"""StackConfig: the stack's Pulumi config, validated once before any resource exists.

Pulumi runs `main: infra/` with infra/ first on sys.path, so no module in infra/ may be named like a
top-level module the program imports (hence mlops_platform.py, not platform.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Protocol

import pulumi

from infra.schema import REPO_ROOT
from monitoring.thresholds import Thresholds

PROJECT = "mlops-platform"

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti)$")
_CRON_FIELD = re.compile(r"^[\d*/,\-]+$")
# Kept in step with training/sources.py's BUNDLED_NAMES (infra/ does not import training/).
BUNDLED_DATASETS = ("breast_cancer", "wine", "iris", "digits")
SNAPSHOTS_DATASET = "snapshots"
_TRAINING_DATASET = re.compile(r"^(breast_cancer|wine|iris|digits|snapshots|https?://\S+)$")
_TRUSTED_HOLDOUT = re.compile(r"^(breast_cancer|wine|iris|digits|https?://\S+)$")
_KIND_IMAGE = re.compile(r"^kindest/node:v(\d+)\.(\d+)\.(\d+)(@sha256:[0-9a-f]{64})?$")
# Image delivery: a build platform (os/arch[/variant]) and prebuilt image references pinned by digest.
_PLATFORM = re.compile(r"^[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?$")
_DIGEST_REF = re.compile(
    r"^[a-z0-9][a-z0-9._-]*(:[0-9]+)?(/[a-z0-9][a-z0-9._-]*)*(:[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?"
    r"@sha256:[0-9a-f]{64}$"
)
# Config key -> image name (images.SPECS) of the prebuilt-images option.
PREBUILT_IMAGE_KEYS = {
    "servingImage": "mlops-serving",
    "trainingImage": "mlops-training",
    "mlflowImage": "mlops-mlflow",
    "retrainTriggerImage": "mlops-retrain-trigger",
}
# The PostgreSQL password is spliced into MLflow's backend-store URI: only URL-unreserved characters survive.
_URL_SAFE = re.compile(r"^[A-Za-z0-9._~-]+$")
MIN_SECRET_LENGTH = 16


class ConfigError(pulumi.RunError):
    """Invalid stack config. A RunError, so Pulumi prints the message alone, without a traceback."""


class ClusterMode(StrEnum):
    """Where the platform goes."""

    KIND = "kind"
    MINIKUBE = "minikube"
    EXISTING = "existing"


class ConfigSource(Protocol):
    """The part of pulumi.Config StackConfig reads (so tests and tools can pass plain values)."""

    def get(self, key: str) -> str | None: ...


@dataclass(frozen=True)
class SecretValue:
    """A credential from stack config; its value stays out of reprs, logs and error messages."""

    value: str = field(repr=False)

    def output(self) -> pulumi.Output[str]:
        """The value as a Pulumi secret, so the engine encrypts it wherever it lands in state."""
        return pulumi.Output.secret(self.value)


@dataclass(frozen=True)
class Credentials:
    """Credentials a stack brings (`pulumi config set --secret`); None: pulumi-random generates one."""

    postgres_password: SecretValue | None
    mlflow_admin_password: SecretValue | None
    mlflow_flask_secret_key: SecretValue | None
    grafana_admin_password: SecretValue | None
    grafana_secret_key: SecretValue | None
    mlflow_serving_password: SecretValue | None = None
    mlflow_training_password: SecretValue | None = None
    mlflow_prometheus_password: SecretValue | None = None
    retrain_trigger_token: SecretValue | None = None


@dataclass(frozen=True)
class ServiceAccountRef:
    """A ServiceAccount by namespace and name."""

    namespace: str
    name: str


@dataclass(frozen=True)
class HostPorts:
    """Host ports kind maps to the platform's NodePort Services."""

    mlflow: int
    serving: int
    grafana: int
    prometheus: int


class AccessMode(StrEnum):
    """PVC access modes the inference-log volume supports."""

    READ_WRITE_ONCE = "ReadWriteOnce"
    READ_WRITE_MANY = "ReadWriteMany"


@dataclass(frozen=True)
class InferenceLogConfig:
    """The opt-in inference log: sampling, disk cap and the volume it lives on."""

    enabled: bool
    sample_rate: float
    max_bytes: int
    """Cap on the log's total size (serving deletes the oldest files beyond it)."""
    storage: str
    """PVC size; at least max_bytes plus headroom."""
    storage_class: str | None
    """None: the stack's storageClass (or the cluster default)."""
    access_mode: AccessMode
    """ReadWriteOnce suits one node (local-path); several nodes need ReadWriteMany."""


@dataclass(frozen=True)
class StackConfig:
    """Every option of a stack, typed; defaults live in Pulumi.yaml's config schema."""

    stack: str
    cluster_mode: ClusterMode
    cluster_name: str
    kind_node_image: str
    kubeconfig: str | None
    kube_context: str | None
    namespace: str
    image_registry: str | None
    model_name: str
    training_dataset: str
    """A bundled scikit-learn name, `snapshots` (the training-data volume) or an http(s) URL."""
    training_target_column: str | None
    training_trusted_holdout: str | None
    """The gate's pinned evaluation set (bundled name or http(s) URL); None: the training data's holdout."""
    training_data_storage: str
    training_snapshots_keep: int
    feedback_window_hours: float
    feedback_weight: float
    promotion_margin: float
    promotion_floor: float
    training_validation: str
    """Data validation strictness the training Jobs run with (strict, standard, lenient)."""
    retrain_schedule: str
    backup_schedule: str
    backup_retention: int
    backup_storage: str
    gc_schedule: str
    gc_retention_days: int
    serving_replicas: int
    serving_max_replicas: int
    serving_max_in_flight: int
    reload_interval_seconds: int
    postgres_storage: str
    artifact_storage: str
    storage_class: str | None
    protect_volumes: bool
    expose_on_host: bool
    host_ports: HostPorts
    preview: bool
    expires_at: datetime | None
    deployer: ServiceAccountRef | None
    """A preview's namespace-scoped deployer (deployerServiceAccount); None: a cluster-rights deployer."""
    image_platform: str | None
    """Build platform (os/arch[/variant]); None builds for the host's architecture."""
    prebuilt_images: Mapping[str, str] | None
    """Image name -> digest reference built elsewhere (CI); None builds the images in the program."""
    credentials: Credentials
    inference_log: InferenceLogConfig
    thresholds: Thresholds
    """Alert thresholds (drift keys from config, the rest the defaults)."""

    @property
    def kubernetes_version(self) -> str:
        """major.minor of the cluster, from the pinned kind node image (manifests are validated for it)."""
        match = _KIND_IMAGE.match(self.kind_node_image)
        assert match is not None  # validated in load_stack_config
        return f"{match.group(1)}.{match.group(2)}"

    @property
    def node_ports(self) -> bool:
        """Expose Services as NodePorts (kind/minikube dev clusters), else ClusterIP only."""
        return self.expose_on_host and self.cluster_mode is not ClusterMode.EXISTING


class _Reader:
    """Reads raw strings from a ConfigSource with the schema defaults; errors name `mlops-platform:<key>`."""

    def __init__(self, source: ConfigSource, defaults: dict[str, str]) -> None:
        self.source = source
        self.defaults = defaults

    def raw(self, key: str) -> str:
        value = self.source.get(key)
        if value is None:
            if key not in self.defaults:
                raise ConfigError(f"{PROJECT}:{key}: missing (and Pulumi.yaml declares no default)")
            return self.defaults[key]
        return str(value)

    def fail(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"{PROJECT}:{key}: {message}")

    def choice(self, key: str, enum: type[ClusterMode]) -> ClusterMode:
        value = self.raw(key)
        try:
            return enum(value)
        except ValueError:
            raise self.fail(key, f"{value!r} is not one of {', '.join(e.value for e in enum)}") from None

    def integer(self, key: str, low: int, high: int) -> int:
        value = self.raw(key)
        try:
            number = float(value)  # Pulumi config (and its test mocks) may hand back "2.0"
        except ValueError:
            raise self.fail(key, f"{value!r} is not an integer") from None
        if not number.is_integer() or not low <= number <= high:
            raise self.fail(key, f"{value!r} must be an integer from {low} to {high}")
        return int(number)

    def number(self, key: str, low: float, high: float) -> float:
        value = self.raw(key)
        try:
            number = float(value)
        except ValueError:
            raise self.fail(key, f"{value!r} is not a number") from None
        if not low <= number <= high:
            raise self.fail(key, f"{value!r} must be between {low} and {high}")
        return number

    def boolean(self, key: str) -> bool:
        value = self.raw(key).strip().lower()
        if value not in {"true", "false"}:
            raise self.fail(key, f"{value!r} is not a boolean (true or false)")
        return value == "true"

    def text(self, key: str) -> str | None:
        value = self.raw(key).strip()
        return value or None

    def secret(self, key: str, pattern: re.Pattern[str] | None = None, what: str = "") -> SecretValue | None:
        """An optional credential. Errors describe the value, never echo it.

        Read like `pulumi.Config.get_secret` would (the plain value, wrapped again by SecretValue.output):
        the length must be checked before any Output exists.
        """
        value = self.raw(key)
        if not value:
            return None
        if len(value) < MIN_SECRET_LENGTH:
            raise self.fail(key, f"must be at least {MIN_SECRET_LENGTH} characters (it has {len(value)})")
        if pattern is not None and not pattern.match(value):
            raise self.fail(key, f"may contain only {what}")
        return SecretValue(value)

    def matching(self, key: str, pattern: re.Pattern[str], what: str) -> str:
        value = self.raw(key).strip()
        if not pattern.match(value):
            raise self.fail(key, f"{value!r} is not {what}")
        return value


def _protect_volumes(r: _Reader, mode: ClusterMode) -> bool:
    """auto: on for existing clusters; off where `pulumi destroy` deletes the whole kind/minikube cluster."""
    value = r.raw("protectVolumes").strip().lower()
    if value not in {"auto", "true", "false"}:
        raise r.fail("protectVolumes", f"{value!r} is not one of auto, true, false")
    if r.boolean("preview"):
        if value == "true":
            raise r.fail(
                "protectVolumes", "cannot be true on a preview stack: its destroy must leave nothing"
            )
        return False
    if value == "auto":
        return mode is ClusterMode.EXISTING
    return value == "true"


def _kube_context(r: _Reader, mode: ClusterMode) -> str | None:
    context = r.text("kubeContext")
    if mode is ClusterMode.EXISTING and context is None:
        raise r.fail(
            "kubeContext",
            "is required with clusterMode existing: without it the provider follows whatever context "
            "kubectl currently points at, so a `kubectl config use-context` elsewhere would retarget this "
            "stack. List the contexts with `kubectl config get-contexts` (add `--kubeconfig FILE` for "
            "mlops-platform:kubeconfig) and `pulumi config set kubeContext NAME`",
        )
    return context


def _kubeconfig(r: _Reader, mode: ClusterMode, project_dir: Path) -> str | None:
    """An absolute path: Pulumi runs the program in infra/ (`main: infra/`), not where Pulumi.yaml is."""
    raw = r.text("kubeconfig")
    if raw is None:
        return None
    path = Path(raw).expanduser()
    if not path.is_absolute():
        path = project_dir / path
    if mode is ClusterMode.EXISTING and not path.is_file():
        raise r.fail(
            "kubeconfig",
            f"{raw!r} is not a file (relative paths start at the project directory {project_dir})",
        )
    return str(path)


def _cron(r: _Reader, key: str) -> str:
    schedule = r.raw(key).strip()
    if len(schedule.split()) != 5 or not all(_CRON_FIELD.match(f) for f in schedule.split()):
        raise r.fail(key, f"{schedule!r} is not a 5-field cron schedule (e.g. '0 3 * * *')")
    return schedule


def load_stack_config(
    source: ConfigSource, stack: str, defaults: dict[str, str], project_dir: Path = REPO_ROOT
) -> StackConfig:
    """Validate every key; the first problem raises ConfigError naming the key and what is allowed.

    `project_dir` holds Pulumi.yaml; relative paths in config start there.
    """
    r = _Reader(source, defaults)
    mode = r.choice("clusterMode", ClusterMode)
    name = r.matching("clusterName", _DNS_LABEL, "a DNS label (lowercase letters, digits, '-')")
    namespace = r.matching("namespace", _DNS_LABEL, "a DNS label (lowercase letters, digits, '-')")
    if len(namespace) > 63:
        raise r.fail("namespace", "must be at most 63 characters")
    schedule = _cron(r, "retrainSchedule")
    replicas = r.integer("servingReplicas", 1, 20)
    max_replicas = r.integer("servingMaxReplicas", 1, 50)
    if max_replicas < replicas:
        raise r.fail("servingMaxReplicas", f"{max_replicas} must be >= servingReplicas ({replicas})")
    registry = r.text("imageRegistry")
    prebuilt = _prebuilt_images(r)
    if mode is ClusterMode.EXISTING and registry is None and prebuilt is None and not r.boolean("preview"):
        raise r.fail(
            "imageRegistry",
            "is required with clusterMode existing (images are pushed there) unless prebuilt images are set "
            "(servingImage, ...); only preview stacks may omit it, and then load images into the dev "
            "stack's kind cluster `clusterName`",
        )
    expires_raw = r.text("expiresAt")
    expires_at = None
    if expires_raw is not None:
        try:
            expires_at = datetime.fromisoformat(expires_raw.replace("Z", "+00:00"))
        except ValueError:
            raise r.fail(
                "expiresAt", f"{expires_raw!r} is not an ISO-8601 time (e.g. 2030-01-31T18:00:00Z)"
            ) from None
        if expires_at.tzinfo is None:
            raise r.fail("expiresAt", f"{expires_raw!r} needs a time zone (e.g. a trailing Z for UTC)")
    ports = HostPorts(
        mlflow=r.integer("mlflowHostPort", 1, 65535),
        serving=r.integer("servingHostPort", 1, 65535),
        grafana=r.integer("grafanaHostPort", 1, 65535),
        prometheus=r.integer("prometheusHostPort", 1, 65535),
    )
    if len({ports.mlflow, ports.serving, ports.grafana, ports.prometheus}) != 4:
        raise r.fail("mlflowHostPort", f"host ports must differ: {ports}")
    dataset = r.matching(
        "trainingDataset",
        _TRAINING_DATASET,
        f"one of {', '.join(BUNDLED_DATASETS)}, snapshots, or an http(s):// URL of a CSV file",
    )
    return StackConfig(
        stack=stack,
        cluster_mode=mode,
        cluster_name=name,
        kind_node_image=r.matching(
            "kindNodeImage", _KIND_IMAGE, "a kindest/node:vX.Y.Z image (optionally @sha256)"
        ),
        kubeconfig=_kubeconfig(r, mode, project_dir),
        kube_context=_kube_context(r, mode),
        namespace=namespace,
        image_registry=registry.rstrip("/") if registry else None,
        model_name=r.matching("modelName", re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"), "a model name"),
        training_dataset=dataset,
        training_target_column=_target_column(r, dataset),
        training_trusted_holdout=_trusted_holdout(r, dataset),
        training_data_storage=r.matching("trainingDataStorage", _QUANTITY, "a storage quantity like 1Gi"),
        training_snapshots_keep=r.integer("trainingSnapshotsKeep", 1, 1000),
        feedback_window_hours=_positive(r, "feedbackWindowHours", 8760.0),
        feedback_weight=_positive(r, "feedbackWeight", 100.0),
        promotion_margin=r.number("promotionMargin", 0.0, 1.0),
        promotion_floor=r.number("promotionFloor", 0.0, 1.0),
        training_validation=r.matching(
            "trainingValidation",
            re.compile(r"^(strict|standard|lenient)$"),
            "one of strict, standard, lenient",
        ),
        retrain_schedule=schedule,
        backup_schedule=_cron(r, "backupSchedule"),
        backup_retention=r.integer("backupRetention", 1, 365),
        backup_storage=r.matching("backupStorage", _QUANTITY, "a storage quantity like 4Gi"),
        gc_schedule=_cron(r, "gcSchedule"),
        gc_retention_days=r.integer("gcRetentionDays", 0, 3650),
        serving_replicas=replicas,
        serving_max_replicas=max_replicas,
        serving_max_in_flight=r.integer("servingMaxInFlight", 1, 10_000),
        reload_interval_seconds=r.integer("reloadIntervalSeconds", 1, 3600),
        postgres_storage=r.matching("postgresStorage", _QUANTITY, "a storage quantity like 1Gi"),
        artifact_storage=r.matching("artifactStorage", _QUANTITY, "a storage quantity like 2Gi"),
        storage_class=r.text("storageClass"),
        protect_volumes=_protect_volumes(r, mode),
        expose_on_host=r.boolean("exposeOnHost"),
        host_ports=ports,
        preview=r.boolean("preview"),
        expires_at=expires_at,
        deployer=_deployer(r),
        image_platform=_image_platform(r),
        prebuilt_images=prebuilt,
        credentials=_credentials(r),
        inference_log=_inference_log(r),
        thresholds=_thresholds(r),
    )


_UNITS = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4}


def _quantity_bytes(quantity: str) -> int:
    """Bytes in a validated `_QUANTITY` like 1.5Gi."""
    return int(float(quantity[:-2]) * _UNITS[quantity[-2:]])


def _inference_log(r: _Reader) -> InferenceLogConfig:
    storage = r.matching("inferenceLogStorage", _QUANTITY, "a storage quantity like 2Gi")
    max_bytes = r.integer("inferenceLogMaxBytes", 64 * 1024, 2**50)
    # Headroom for the files being written and another replica's, which the cap counts but cannot delete.
    if max_bytes > _quantity_bytes(storage) * 0.9:
        raise r.fail(
            "inferenceLogMaxBytes",
            f"{max_bytes} must be at most 90% of inferenceLogStorage ({storage}) so the volume never fills",
        )
    mode = r.raw("inferenceLogAccessMode").strip()
    try:
        access_mode = AccessMode(mode)
    except ValueError:
        allowed = ", ".join(m.value for m in AccessMode)
        raise r.fail("inferenceLogAccessMode", f"{mode!r} is not one of {allowed}") from None
    return InferenceLogConfig(
        enabled=r.boolean("inferenceLogEnabled"),
        sample_rate=r.number("inferenceLogSampleRate", 0.0, 1.0),
        max_bytes=max_bytes,
        storage=storage,
        storage_class=r.text("inferenceLogStorageClass"),
        access_mode=access_mode,
    )


def _thresholds(r: _Reader) -> Thresholds:
    psi = r.number("driftPsi", 0.01, 10.0)
    feature_psi = r.number("driftFeaturePsi", 0.01, 10.0)
    if feature_psi < psi:
        raise r.fail(
            "driftFeaturePsi", f"{feature_psi} must be >= driftPsi ({psi}): it is the single-feature bar"
        )
    return Thresholds(
        drift_psi=psi,
        drift_share=r.number("driftShare", 0.01, 1.0),
        drift_feature_psi=feature_psi,
        drift_min_rows=r.integer("driftMinRows", 10, 1_000_000),
    )


def _target_column(r: _Reader, dataset: str) -> str | None:
    column = r.text("trainingTargetColumn")
    if column is None and dataset not in BUNDLED_DATASETS:
        raise r.fail(
            "trainingTargetColumn",
            f"is required with trainingDataset {dataset!r} (the CSV column holding the label)",
        )
    return column


def _trusted_holdout(r: _Reader, dataset: str) -> str | None:
    """Only what a training pod can read and the gate can use: never the training data itself (training
    would ignore it) and never a second bundled set (its columns differ from any other bundled set's)."""
    holdout = r.text("trainingTrustedHoldout")
    if holdout is None:
        return None
    key = "trainingTrustedHoldout"
    if not _TRUSTED_HOLDOUT.match(holdout):
        raise r.fail(
            key,
            f"{holdout!r} is not one of {', '.join(BUNDLED_DATASETS)}, or an http(s):// URL of a CSV file",
        )
    if holdout == dataset:
        raise r.fail(
            key,
            f"{holdout!r} is trainingDataset itself: the trusted holdout must be a separate, pinned set "
            "(leave it empty to gate on the training data's own holdout)",
        )
    if holdout in BUNDLED_DATASETS and dataset in BUNDLED_DATASETS:
        raise r.fail(
            key,
            f"{holdout!r} has other feature columns than trainingDataset {dataset!r}: the gate cannot use it",
        )
    if holdout not in BUNDLED_DATASETS and r.text("trainingTargetColumn") is None:
        raise r.fail(
            "trainingTargetColumn",
            f"is required with trainingTrustedHoldout {holdout!r} (the CSV column holding the label)",
        )
    return holdout


def _positive(r: _Reader, key: str, high: float) -> float:
    value = r.number(key, 0.0, high)
    if value <= 0:
        raise r.fail(key, f"{value!r} must be greater than 0 (and at most {high:g})")
    return value


def _credentials(r: _Reader) -> Credentials:
    return Credentials(
        postgres_password=r.secret(
            "postgresPassword", _URL_SAFE, "letters, digits and . _ ~ - (it is part of a database URL)"
        ),
        mlflow_admin_password=r.secret("mlflowAdminPassword"),
        mlflow_flask_secret_key=r.secret("mlflowFlaskSecretKey"),
        grafana_admin_password=r.secret("grafanaAdminPassword"),
        grafana_secret_key=r.secret("grafanaSecretKey"),
        mlflow_serving_password=r.secret("mlflowServingPassword"),
        mlflow_training_password=r.secret("mlflowTrainingPassword"),
        mlflow_prometheus_password=r.secret("mlflowPrometheusPassword"),
        retrain_trigger_token=r.secret("retrainTriggerToken"),
    )


def _deployer(r: _Reader) -> ServiceAccountRef | None:
    raw = r.text("deployerServiceAccount")
    if raw is None:
        return None
    namespace, sep, name = raw.strip().partition("/")
    if not (sep and _DNS_LABEL.match(namespace) and _DNS_LABEL.match(name)):
        raise r.fail("deployerServiceAccount", f"{raw!r} is not NAMESPACE/NAME (two DNS labels)")
    # Only a preview's namespace is one the deployer may be bound in (the cluster's preview guard).
    if not r.boolean("preview"):
        raise r.fail("deployerServiceAccount", "is for preview stacks only (preview: true)")
    return ServiceAccountRef(namespace=namespace, name=name)


def _image_platform(r: _Reader) -> str | None:
    value = r.text("imagePlatform")
    if value is not None and not _PLATFORM.match(value):
        raise r.fail("imagePlatform", f"{value!r} is not a platform os/arch[/variant] (e.g. linux/amd64)")
    return value


def _prebuilt_images(r: _Reader) -> dict[str, str] | None:
    """All four image keys or none: a partial set would mix CI-built and locally built images."""
    refs = {key: r.text(key) for key in PREBUILT_IMAGE_KEYS}
    missing = [key for key, ref in refs.items() if ref is None]
    if len(missing) == len(refs):
        return None
    if missing:
        raise r.fail(
            missing[0],
            f"prebuilt images need all of {', '.join(PREBUILT_IMAGE_KEYS)}; missing: {', '.join(missing)}",
        )
    for key, ref in refs.items():
        if not _DIGEST_REF.match(str(ref)):
            raise r.fail(key, f"{ref!r} is not an image reference by digest (<repo>[:tag]@sha256:<64 hex>)")
    return {PREBUILT_IMAGE_KEYS[key]: str(ref) for key, ref in refs.items()}
