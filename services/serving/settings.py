"""Serving configuration from the environment, read once at startup (names from mlops_contract.names.Env)."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from mlops_contract.names import CHAMPION_ALIAS, DEFAULT_MODEL_NAME, SERVING_PORT, Env


class SettingsError(ValueError):
    """A bad environment variable; the message names it."""


class Settings(BaseSettings):
    """Everything the server reads from its environment."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    tracking_uri: str | None = Field(default=None, validation_alias=Env.TRACKING_URI)
    model_name: str = Field(default=DEFAULT_MODEL_NAME, min_length=1, validation_alias=Env.MODEL_NAME)
    model_alias: str = Field(default=CHAMPION_ALIAS, min_length=1, validation_alias=Env.MODEL_ALIAS)
    reload_interval_seconds: float = Field(default=30.0, gt=0, validation_alias=Env.RELOAD_INTERVAL_SECONDS)
    max_batch_rows: int = Field(default=1000, ge=1, le=100_000, validation_alias=Env.MAX_BATCH_ROWS)
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024, validation_alias=Env.MAX_BODY_BYTES)
    drift_window: int = Field(default=1000, ge=10, le=1_000_000, validation_alias=Env.DRIFT_WINDOW)
    log_level: str = Field(default="INFO", validation_alias=Env.LOG_LEVEL)
    host: str = Field(default="127.0.0.1", validation_alias=Env.SERVING_HOST)
    port: int = Field(default=SERVING_PORT, ge=1, le=65535, validation_alias=Env.SERVING_PORT)
    retry_initial_seconds: float = 0.5
    """First wait after a failed load while no model is loaded; doubles up to the reload interval."""

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("allowed: DEBUG, INFO, WARNING, ERROR")
        return level

    @property
    def retry_max_seconds(self) -> float:
        """Cap of the startup backoff."""
        return max(self.retry_initial_seconds, min(self.reload_interval_seconds, 30.0))


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Settings from env (os.environ if None); SettingsError names the variable and the rule."""
    try:
        if env is None:
            return Settings()
        return Settings.model_validate(dict(env))
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "environment"
        raise SettingsError(f"{name}: {first['msg']} (got {first.get('input')!r})") from None
