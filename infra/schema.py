"""The config schema in Pulumi.yaml: the single source of defaults, read by the program and by tools."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
PULUMI_YAML = REPO_ROOT / "Pulumi.yaml"


def project_config_schema(path: Path = PULUMI_YAML) -> dict[str, dict[str, Any]]:
    """Key -> {type, default, description} from Pulumi.yaml's `config:` block."""
    project = yaml.safe_load(path.read_text())
    schema: dict[str, dict[str, Any]] = project.get("config", {})
    return schema


def schema_defaults(path: Path = PULUMI_YAML) -> dict[str, str]:
    """Defaults as the strings pulumi.Config.get returns."""
    out: dict[str, str] = {}
    for key, spec in project_config_schema(path).items():
        if "default" in spec:
            value = spec["default"]
            out[key] = str(value).lower() if isinstance(value, bool) else str(value)
    return out


def stack_values(stack_file: Path) -> dict[str, str]:
    """`mlops-platform:<key>` values of a Pulumi.<stack>.yaml, keyed without the project prefix."""
    raw = yaml.safe_load(stack_file.read_text()) or {}
    values: dict[str, str] = {}
    for key, value in (raw.get("config") or {}).items():
        short = key.split(":", 1)[1] if ":" in key else key
        values[short] = str(value).lower() if isinstance(value, bool) else str(value)
    return values
