"""alertmanager.yml: `action=retrain` alerts go to the retrain trigger webhook; the rest stay in the UI.

Grouping by alertname and a long repeat interval keep notifications to one per episode; the trigger debounces
repeats anyway.
"""

from __future__ import annotations

from typing import Any

from mlops_contract.names import Route
from monitoring.rules import RETRAIN_LABEL


def alertmanager_config(trigger_base_url: str, repeat_interval: str = "12h") -> dict[str, Any]:
    """The whole config; `trigger_base_url` is e.g. http://retrain-trigger:8080."""
    return {
        "route": {
            "receiver": "default",
            "group_by": ["alertname"],
            "group_wait": "10s",
            "group_interval": "1m",
            "repeat_interval": repeat_interval,
            "routes": [
                {
                    "receiver": "retrain",
                    "matchers": [f'{RETRAIN_LABEL[0]}="{RETRAIN_LABEL[1]}"'],
                    "group_wait": "0s",
                }
            ],
        },
        "receivers": [
            # Alerts stay visible in Prometheus/Alertmanager; wire a pager or chat receiver here.
            {"name": "default"},
            {
                "name": "retrain",
                "webhook_configs": [
                    {"url": f"{trigger_base_url}{Route.ALERTS}", "send_resolved": False, "max_alerts": 0}
                ],
            },
        ],
    }
