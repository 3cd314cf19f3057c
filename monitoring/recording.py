"""Recording rules (`level:metric:operations`): per-feature drift over replicas, with the window guard.

Alerts and dashboards read these, so the guard (a replica counts only once its window holds
`drift_min_rows` rows) is written once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from mlops_contract.metrics import DRIFT_WINDOW_ROWS, FEATURE_DRIFT
from monitoring.sources import Job
from monitoring.thresholds import Thresholds

FEATURE_PSI: Final = f"job_feature:{FEATURE_DRIFT.name}:max"
"""Per feature: the largest PSI over the replicas whose window is full enough."""
MAX_PSI: Final = f"job:{FEATURE_DRIFT.name}:max"
"""The largest PSI of any feature."""
DRIFTED_SHARE: Final = f"job:{FEATURE_DRIFT.name}_over_threshold:ratio"
"""Share of the features whose PSI exceeds the per-feature threshold (0..1)."""


@dataclass(frozen=True)
class RecordingRule:
    """One recorded series."""

    record: str
    expr: str

    def as_dict(self) -> dict[str, Any]:
        """Prometheus rule-file form."""
        return {"record": self.record, "expr": self.expr}


def recording_rules(t: Thresholds | None = None) -> list[RecordingRule]:
    """Drift recording rules, in dependency order (a group evaluates its rules in sequence)."""
    t = t or Thresholds()
    serving = f'job="{Job.SERVING}"'
    guarded = (
        f"{FEATURE_DRIFT.name}{{{serving}}}"
        f" and on (job, instance) {DRIFT_WINDOW_ROWS.name}{{{serving}}} >= {t.drift_min_rows}"
    )
    return [
        RecordingRule(FEATURE_PSI, f"max by (job, feature) ({guarded})"),
        RecordingRule(MAX_PSI, f"max by (job) ({FEATURE_PSI}{{{serving}}})"),
        RecordingRule(DRIFTED_SHARE, f"avg by (job) ({FEATURE_PSI}{{{serving}}} > bool {t.drift_psi})"),
    ]


def recorded_series() -> frozenset[str]:
    """Names the recording rules produce (rules and panels may query them)."""
    return frozenset(r.record for r in recording_rules())
