"""alertmanager.yml: `action=retrain` alerts go to the retrain trigger webhook; the rest stay in the UI.

Grouping by alertname and a long repeat interval keep notifications to one per episode; the trigger debounces
repeats anyway.
"""

from __future__ import annotations

from typing import Any

from mlops_contract.names import Route
from monitoring.rules import RETRAIN_LABEL


def alertmanager_config(
    trigger_base_url: str, repeat_interval: str = "12h", token_file: str | None = None
) -> dict[str, Any]:
    """The whole config; `trigger_base_url` is e.g. http://retrain-trigger:8080.

    `token_file`: where Alertmanager reads the trigger's bearer token (a mounted Secret; Alertmanager re-reads
    it per request, so a rotated token needs no restart). None only for the local dev loop's open trigger.
    """
    webhook: dict[str, Any] = {
        "url": f"{trigger_base_url}{Route.ALERTS}",
        "send_resolved": False,
        "max_alerts": 0,
    }
    if token_file is not None:
        webhook["http_config"] = {"authorization": {"type": "Bearer", "credentials_file": token_file}}
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
            {"name": "retrain", "webhook_configs": [webhook]},
        ],
    }
