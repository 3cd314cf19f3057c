"""Serving configuration from the environment, read once at startup (names from mlops_contract.names.Env)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from mlops_contract.names import (
    CHAMPION_ALIAS,
    DEFAULT_MODEL_NAME,
    SERVING_METRICS_PORT,
    SERVING_PORT,
    SKOPS_TRUSTED_TYPES,
    Env,
)
from services.serving.registry import Connection, is_http_url


class SettingsError(ValueError):
    """A bad environment variable; the message names it."""


class Settings(BaseSettings):
    """Everything the server reads from its environment."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    tracking_uri: str | None = Field(default=None, validation_alias=Env.TRACKING_URI)
    # MLflow's client variables, so training and serving share one configuration.
    tracking_username: str | None = Field(default=None, validation_alias=Env.TRACKING_USERNAME)
    tracking_password: SecretStr | None = Field(default=None, validation_alias=Env.TRACKING_PASSWORD)
    tracking_token: SecretStr | None = Field(default=None, validation_alias=Env.TRACKING_TOKEN)
    tracking_insecure_tls: bool = Field(default=False, validation_alias=Env.TRACKING_INSECURE_TLS)
    tracking_ca_bundle: str | None = Field(default=None, validation_alias=Env.TRACKING_CA_BUNDLE)
    registry_timeout_seconds: float = Field(default=10.0, gt=0, validation_alias=Env.HTTP_REQUEST_TIMEOUT)
    extra_trusted_types: str = Field(default="", validation_alias=Env.TRUSTED_TYPES)
    """Comma-separated types to trust in skops models beyond skops' defaults and the platform's own."""
    model_name: str = Field(default=DEFAULT_MODEL_NAME, min_length=1, validation_alias=Env.MODEL_NAME)
    model_alias: str = Field(default=CHAMPION_ALIAS, min_length=1, validation_alias=Env.MODEL_ALIAS)
    reload_interval_seconds: float = Field(default=30.0, gt=0, validation_alias=Env.RELOAD_INTERVAL_SECONDS)
    max_batch_rows: int = Field(default=1000, ge=1, le=100_000, validation_alias=Env.MAX_BATCH_ROWS)
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024, validation_alias=Env.MAX_BODY_BYTES)
    drift_window: int = Field(default=1000, ge=10, le=1_000_000, validation_alias=Env.DRIFT_WINDOW)
    log_level: str = Field(default="INFO", validation_alias=Env.LOG_LEVEL)
    host: str = Field(default="127.0.0.1", validation_alias=Env.SERVING_HOST)
    port: int = Field(default=SERVING_PORT, ge=1, le=65535, validation_alias=Env.SERVING_PORT)
    metrics_port: int = Field(
        default=SERVING_METRICS_PORT, ge=1, le=65535, validation_alias=Env.SERVING_METRICS_PORT
    )
    """`/metrics` listens here, never on `port`."""
    inference_log_dir: Path | None = Field(default=None, validation_alias=Env.INFERENCE_LOG_DIR)
    """Where the opt-in inference log goes (unset: no log, no feedback)."""
    inference_log_sample_rate: float = Field(
        default=1.0, ge=0.0, le=1.0, validation_alias=Env.INFERENCE_LOG_SAMPLE_RATE
    )
    inference_log_max_bytes: int = Field(
        default=1024**3, ge=64 * 1024, validation_alias=Env.INFERENCE_LOG_MAX_BYTES
    )
    """Cap on the log directory's total size; the oldest files are deleted beyond it."""
    inference_log_file_bytes: int | None = Field(
        default=None, ge=4096, validation_alias=Env.INFERENCE_LOG_FILE_BYTES
    )
    """Rotation size of one file (default: an eighth of the cap, at most 64 MiB)."""
    inference_log_rotate_seconds: float = Field(
        default=60.0, gt=0, le=86400, validation_alias=Env.INFERENCE_LOG_ROTATE_SECONDS
    )
    """A file being written is closed (and so readable) at the latest after this long."""
    feedback_max_age_seconds: float = Field(
        default=7 * 86400.0, gt=0, validation_alias=Env.FEEDBACK_MAX_AGE_SECONDS
    )
    """Feedback is accepted for requests logged at most this long ago."""
    retry_initial_seconds: float = 0.5
    """First wait after a failed load while no model is loaded; grows with jitter up to retry_max_seconds."""
    retry_cap_seconds: float = Field(default=5.0, gt=0, le=300, validation_alias=Env.RELOAD_RETRY_MAX_SECONDS)
    broken_version_retry_seconds: float = Field(
        default=300.0, ge=0, validation_alias=Env.BROKEN_VERSION_RETRY_SECONDS
    )
    """A version that failed to load is not fetched again for this long while the alias still points at it."""
    # Defaults sized for the serving pod's 512 MiB limit (infra/components/serving.py): about 2 MiB per
    # in-flight 1000-row request, so 64 in flight stay near 130 MiB above the ~150 MiB baseline.
    max_in_flight: int = Field(default=64, ge=1, le=10_000, validation_alias=Env.MAX_IN_FLIGHT)
    """Requests admitted at once (probes and /metrics excepted); more get 503 + Retry-After."""
    # Queued rows never exceed max_in_flight x max_batch_rows, so by default every admitted request waits its
    # turn: shedding one that was already read and parsed wastes that work and frees nothing admission does
    # not already bound (measured: a cap of 16,000 shed 67 of 86 admitted requests in a 1,024-request burst).
    max_queued_rows: int = Field(default=64_000, ge=1, validation_alias=Env.MAX_QUEUED_ROWS)
    """Rows waiting for the estimator; a request that would exceed it gets 503 + Retry-After (lower it to
    bound the wait behind a slow model)."""
    max_buffered_bytes: int = Field(
        default=64 * 1024 * 1024, ge=1024, validation_alias=Env.MAX_BUFFERED_BYTES
    )
    """Request-body bytes held in memory across all requests at once; more get 503 + Retry-After."""
    max_connections: int = Field(default=2048, ge=16, validation_alias=Env.MAX_CONNECTIONS)
    """Open connections before uvicorn answers every new request with 503 (its limit_concurrency)."""
    header_timeout_seconds: float = Field(default=10.0, gt=0, validation_alias=Env.HEADER_TIMEOUT_SECONDS)
    """A connection that has not sent a complete request head in this time is closed."""
    body_timeout_seconds: float = Field(default=10.0, gt=0, validation_alias=Env.BODY_TIMEOUT_SECONDS)
    """A request body not fully received in this time gets 408 and the connection is closed."""
    keepalive_seconds: int = Field(default=5, ge=1, validation_alias=Env.KEEPALIVE_SECONDS)
    """Idle keep-alive connections are closed after this."""

    @model_validator(mode="after")
    def _distinct_ports(self) -> Settings:
        if self.metrics_port == self.port:
            raise ValueError(f"{Env.SERVING_METRICS_PORT} must differ from {Env.SERVING_PORT} ({self.port})")
        return self

    @field_validator("tracking_uri")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not is_http_url(value):
            raise ValueError("must be the MLflow tracking server's http(s) URL")
        return value

    @field_validator("tracking_ca_bundle")
    @classmethod
    def _readable_file(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).is_file():
            raise ValueError("no such file (a PEM CA bundle is expected)")
        return value

    @field_validator("extra_trusted_types")
    @classmethod
    def _dotted_names(cls, value: str) -> str:
        for name in _split(value):
            if "." not in name or any(not part.isidentifier() for part in name.split(".")):
                raise ValueError(f"{name!r} is not a dotted type name such as 'package.module.Class'")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("allowed: DEBUG, INFO, WARNING, ERROR")
        return level

    @field_validator("inference_log_file_bytes")
    @classmethod
    def _file_fits_cap(cls, value: int | None, info: ValidationInfo) -> int | None:
        cap = info.data.get("inference_log_max_bytes")
        if value is not None and cap is not None and value * 4 > cap:
            raise ValueError(f"must be at most a quarter of {Env.INFERENCE_LOG_MAX_BYTES} ({cap})")
        return value

    @property
    def log_file_bytes(self) -> int:
        """Rotation size of one inference-log file."""
        if self.inference_log_file_bytes is not None:
            return self.inference_log_file_bytes
        return min(64 * 1024**2, self.inference_log_max_bytes // 8)

    @property
    def trusted_types(self) -> tuple[str, ...]:
        """Types a served model may contain beyond skops' default allow-list."""
        return (*SKOPS_TRUSTED_TYPES, *_split(self.extra_trusted_types))

    def connection(self) -> Connection:
        """How to reach the registry; SettingsError if the tracking URI is not set."""
        if self.tracking_uri is None:
            raise SettingsError(f"{Env.TRACKING_URI}: required (the MLflow tracking server's http(s) URL)")
        verify: bool | str = self.tracking_ca_bundle or True
        return Connection(
            tracking_uri=self.tracking_uri,
            username=self.tracking_username,
            password=self.tracking_password.get_secret_value() if self.tracking_password else None,
            token=self.tracking_token.get_secret_value() if self.tracking_token else None,
            verify=False if self.tracking_insecure_tls else verify,
            timeout_seconds=self.registry_timeout_seconds,
        )

    @property
    def retry_max_seconds(self) -> float:
        """Cap of the backoff while no model is loaded (never above the reload interval)."""
        return max(self.retry_initial_seconds, min(self.reload_interval_seconds, self.retry_cap_seconds))


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Settings from env (os.environ if None); SettingsError names the variable and the rule."""
    try:
        if env is None:
            return Settings()
        return Settings.model_validate(dict(env))
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "environment"
        shown = "<hidden>" if name in _SECRET_VARIABLES else repr(first.get("input"))
        raise SettingsError(f"{name}: {first['msg']} (got {shown})") from None


_SECRET_VARIABLES = {Env.TRACKING_PASSWORD.value, Env.TRACKING_TOKEN.value}


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]
