"""The metrics listener: `/metrics` on its own port, so the public port never serves it.

Scraping recomputes the drift gauges (services/serving/metrics.py); on the public port anyone who can reach
predictions could make the server do that work, and the NetworkPolicy could not let Prometheus scrape without
also letting it predict. prometheus_client's server runs in its own thread, off the event loop.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, start_http_server


def start_metrics_server(host: str, port: int, registry: CollectorRegistry) -> None:
    """Serve `registry` on host:port (a daemon thread: it ends with the process)."""
    start_http_server(port, addr=host, registry=registry)
