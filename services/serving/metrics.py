"""Prometheus collectors built from the metrics contract (mlops_contract.metrics); one registry per app."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from mlops_contract import metrics as contract
from services.serving.admission import ShedReason
from services.serving.state import ServingState

SHED_REASONS = (ShedReason.IN_FLIGHT, ShedReason.BUFFERED_BYTES, ShedReason.QUEUED_ROWS)


class ServingMetrics:
    """Request-path counters and histograms, plus scrape-time gauges read from the serving state."""

    def __init__(self, state: ServingState, clock: Callable[[], float] = time.time) -> None:
        self.registry = CollectorRegistry()
        self.http_requests = _counter(contract.HTTP_REQUESTS, self.registry)
        self.http_latency = _histogram(contract.HTTP_LATENCY, self.registry)
        self.shed = _counter(contract.HTTP_SHED, self.registry)
        for reason in SHED_REASONS:  # exported at 0 from the start, so rate() and alerts see every reason
            self.shed.labels(reason)
        self.predictions = _counter(contract.PREDICTIONS, self.registry)
        self.batch_rows = _histogram(contract.BATCH_ROWS, self.registry)
        self.reload_failures = _counter(contract.MODEL_RELOAD_FAILURES, self.registry)
        self.inference_log_records = _counter(contract.INFERENCE_LOG_RECORDS, self.registry)
        self.feedback_items = _counter(contract.FEEDBACK_ITEMS, self.registry)
        # Exported at 0 from the start, so rate() and alerts see the first increment.
        for kind in ("requests", "feedback"):
            for outcome in ("written", "dropped", "failed"):
                self.inference_log_records.labels(kind, outcome)
        for outcome in ("accepted", "rejected"):
            self.feedback_items.labels(outcome)
        self.registry.register(_StateCollector(state, clock))


def _counter(spec: contract.MetricSpec, registry: CollectorRegistry) -> Counter:
    return Counter(spec.name, spec.help, spec.labels, registry=registry)


def _histogram(spec: contract.MetricSpec, registry: CollectorRegistry) -> Histogram:
    return Histogram(spec.name, spec.help, spec.labels, registry=registry, buckets=spec.buckets)


class _StateCollector(Collector):
    """Gauges computed when Prometheus scrapes, so they are never stale and cost nothing per request."""

    def __init__(self, state: ServingState, clock: Callable[[], float]) -> None:
        self._state = state
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        served = self._state.current
        loaded = GaugeMetricFamily(contract.MODEL_LOADED.name, contract.MODEL_LOADED.help)
        loaded.add_metric([], 1.0 if served else 0.0)
        yield loaded
        info = GaugeMetricFamily(
            contract.MODEL_INFO.name, contract.MODEL_INFO.help, labels=contract.MODEL_INFO.labels
        )
        age = GaugeMetricFamily(contract.MODEL_AGE.name, contract.MODEL_AGE.help)
        window = GaugeMetricFamily(contract.DRIFT_WINDOW_ROWS.name, contract.DRIFT_WINDOW_ROWS.help)
        feature = GaugeMetricFamily(
            contract.FEATURE_DRIFT.name, contract.FEATURE_DRIFT.help, labels=contract.FEATURE_DRIFT.labels
        )
        score = GaugeMetricFamily(contract.DRIFT_SCORE.name, contract.DRIFT_SCORE.help)
        if served is not None:
            ref = served.model.ref
            info.add_metric([ref.name, ref.version, ref.alias, ref.run_id], 1.0)
            age.add_metric([], max(0.0, self._clock() - ref.created_at))
            if served.drift is not None:
                window.add_metric([], float(served.drift.rows))
                for name, value in served.drift.feature_psi().items():
                    feature.add_metric([name], value)
                overall = served.drift.score()
                if overall is not None:
                    score.add_metric([], overall)
        yield from (info, age, window, feature, score)
