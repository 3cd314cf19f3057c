"""The dev loop's config for integration tests: every port free, state under the test's tmp, quick reloads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from devloop.config import DevLoopConfig
from tests.conftest import free_port


def local_config(tmp_path: Path, **overrides: Any) -> DevLoopConfig:
    """A DevLoopConfig on free ports under tmp_path; `overrides` set any other field."""
    return DevLoopConfig(
        state_dir=tmp_path / "state",
        mlflow_port=free_port(),
        serving_port=free_port(),
        serving_metrics_port=free_port(),
        prometheus_port=free_port(),
        alertmanager_port=free_port(),
        trigger_port=free_port(),
        reload_interval_seconds=2.0,
        **overrides,
    )
