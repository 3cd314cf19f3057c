"""The stack outputs the run reads (stacks.workspace: `pulumi stack output --json --show-secrets`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

# Output key -> StackOutputs field. The one list of the keys the run depends on: a test holds every key to
# what the real program exports (infra/mlops_platform.py, Platform.outputs).
OUTPUT_KEYS: Final[Mapping[str, str]] = {
    "namespace": "namespace",
    "mlflowUrl": "mlflow_url",
    "mlflowCredentialsSecret": "mlflow_credentials_secret",
    "servingUrl": "serving_url",
    "prometheusUrl": "prometheus_url",
    "grafanaUrl": "grafana_url",
}


class OutputsError(ValueError):
    """The stack's outputs are not what the run needs."""


@dataclass(frozen=True)
class StackOutputs:
    """What the smoke checks need from the stack."""

    namespace: str
    """Namespace of every platform object."""
    mlflow_url: str
    """MLflow as reached from the host."""
    mlflow_credentials_secret: str
    """Secret with MLflow's basic-auth admin credentials."""
    serving_url: str
    """Serving as reached from the host."""
    prometheus_url: str
    """Prometheus as reached from the host."""
    grafana_url: str
    """Grafana as reached from the host."""

    @classmethod
    def from_outputs(cls, data: Mapping[str, object]) -> StackOutputs:
        """The fields from the stack's outputs; the error names every missing or non-string key.

        Secret outputs arrive decrypted, so the error names keys, never values.
        """
        missing = [key for key in OUTPUT_KEYS if not isinstance(data.get(key), str) or not data[key]]
        if missing:
            raise OutputsError(f"stack outputs lack (or have non-string) {', '.join(missing)}")
        # URLs are joined with absolute paths below.
        values = {field: str(data[key]).rstrip("/") for key, field in OUTPUT_KEYS.items()}
        return cls(**values)

    def urls(self) -> dict[str, str]:
        """The host URLs, for the log (no secret values here)."""
        return {
            "mlflow": self.mlflow_url,
            "serving": self.serving_url,
            "prometheus": self.prometheus_url,
            "grafana": self.grafana_url,
        }
