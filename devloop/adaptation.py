"""Drive a running local platform through the drift -> retrain -> reload loop with labelled traffic; measure.

`adapt()` sends normal traffic, then the shifted stream (devloop/shifted_stream.py), each request followed by
its true labels on `POST /v1/feedback` under the `X-Request-ID` serving returned; it waits for FeatureDrift to
fire, the retrain trigger to start one retraining, the gate to promote it and serving to reload it, then
measures the new model on shifted rows it never saw. `control()` sends the same traffic without the shift for
an observation window that covers the drift alert's `for:` and the evaluation intervals. Accuracy is what the
client computes from the predictions it got and the labels it sent as feedback.

`python -m devloop --demo-drift` prints these steps; tests/integration/test_devloop_adaptation.py asserts
them.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from prometheus_client.parser import text_string_to_metric_families

from devloop.config import DriftDemo
from devloop.local_platform import DevLoopError, LocalPlatform
from devloop.shifted_stream import Batch, Phase, ShiftedStream
from mlops_contract.inference_log import REQUEST_ID_HEADER
from mlops_contract.metrics import FEATURE_DRIFT
from mlops_contract.names import CHAMPION_ALIAS, Route, Tag
from monitoring.recording import FEATURE_PSI

Reporter = Callable[[str], None]
_R = TypeVar("_R")

DRIFT_ALERTS = ("FeatureDrift", "DatasetDrift")
# The retrain trigger's counter (services/retrain_trigger/app.py), one sample per alert name.
RETRAINS_TRIGGERED = "mlops_retrains_triggered_total"
TERMINAL_RUN_STATES = frozenset({"FINISHED", "FAILED", "KILLED"})
RECOVERY_MARGIN = 0.25
"""The new model's accuracy on the shifted traffic must beat the champion's by at least this (the demo's
verdict and the test's assertion). Measured: about 0.53 -> 0.93 (docs/monitoring.md)."""


@dataclass(frozen=True)
class Pace:
    """How much traffic, how fast, and how long each step may take."""

    normal_rows: int = 200
    """Normal traffic before the shift (adapt)."""
    request_interval_seconds: float = 0.25
    """Pause between requests of the live stream (10 rows each: 40 rows/s)."""
    evaluation_rows: int = 300
    """Unseen shifted rows sent after the reload."""
    alert_timeout_seconds: float = 240.0
    retrain_timeout_seconds: float = 300.0
    reload_timeout_seconds: float = 60.0
    control_seconds: float | None = None
    """How long the control watches; None: the alert's `for:` plus four evaluation intervals plus 15 s."""
    status_every_seconds: float = 15.0


@dataclass
class Tally:
    """Rows a client labelled, and how many of them each model version predicted right."""

    total: dict[str, int] = field(default_factory=dict)
    correct: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    unlogged: int = 0
    """Requests the inference log did not sample (feedback answered 404): still counted here."""

    def add(self, version: str, predictions: list[Any], labels: list[int]) -> None:
        """Count one answered and labelled request."""
        self.requests += 1
        self.total[version] = self.total.get(version, 0) + len(labels)
        hits = sum(1 for p, y in zip(predictions, labels, strict=True) if _same_label(p, y))
        self.correct[version] = self.correct.get(version, 0) + hits

    def rows(self, version: str | None = None) -> int:
        """Labelled rows (of one version, or all)."""
        return sum(self.total.values()) if version is None else self.total.get(version, 0)

    def accuracy(self, version: str | None = None) -> float:
        """Share of rows predicted right (of one version, or all); NaN before any row."""
        rows = self.rows(version)
        correct = sum(self.correct.values()) if version is None else self.correct.get(version, 0)
        return correct / rows if rows else float("nan")


def _same_label(prediction: Any, label: int) -> bool:
    return isinstance(prediction, int | float) and not isinstance(prediction, bool) and prediction == label


class Traffic:
    """Prediction requests with feedback, as a labelling client sends them."""

    def __init__(self, platform: LocalPlatform) -> None:
        self._http = httpx.Client(base_url=platform.cfg.serving_url, timeout=30)

    def send(self, batch: Batch, tally: Tally) -> str:
        """Predict, label the answer by its request id, count it; returns the model version that answered."""
        answer = self._http.post(Route.PREDICT, json={"rows": batch.rows})
        if answer.status_code != 200:
            raise DevLoopError(f"POST {Route.PREDICT} -> {answer.status_code}: {answer.text[:300]}")
        body = answer.json()
        request_id = answer.headers.get(REQUEST_ID_HEADER)
        if not request_id:
            raise DevLoopError(f"POST {Route.PREDICT} answered without the {REQUEST_ID_HEADER} header")
        feedback = self._http.post(
            Route.FEEDBACK, json={"items": [{"request_id": request_id, "labels": batch.labels}]}
        )
        if feedback.status_code == 404 and "unknown request id" in feedback.text:
            tally.unlogged += 1  # not sampled by the inference log: nothing to label
        elif feedback.status_code != 200:
            raise DevLoopError(
                f"POST {Route.FEEDBACK} -> {feedback.status_code}: {feedback.text[:300]} (is the inference "
                "log on? python -m devloop --inference-log 1)"
            )
        version = str(body["model_version"])
        tally.add(version, list(body["predictions"]), batch.labels)
        return version

    def close(self) -> None:
        """Release the connection pool."""
        self._http.close()


class LiveStream:
    """A background thread sending one phase's batches at a steady pace until stopped."""

    def __init__(self, platform: LocalPlatform, batches: Iterator[Batch], pace: Pace) -> None:
        self.tally = Tally()
        self._traffic = Traffic(platform)
        self._batches = batches
        self._interval = pace.request_interval_seconds
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="demo-traffic", daemon=True)

    def start(self) -> LiveStream:
        """Begin sending."""
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._traffic.send(next(self._batches), self.tally)
                self._stop.wait(self._interval)
        except BaseException as exc:  # handed to the waiting thread, which reports it
            self._error = exc

    def check(self) -> None:
        """Raise what stopped the sender, if anything did."""
        if self._error is not None:
            raise DevLoopError(f"the traffic stream stopped: {self._error}")

    def stop(self) -> None:
        """Stop sending and wait for the request in flight."""
        self._stop.set()
        self._thread.join(timeout=60)
        self._traffic.close()


class Observer:
    """Read-only views of Prometheus, the retrain trigger, the registry and serving."""

    def __init__(self, platform: LocalPlatform) -> None:
        from mlflow import MlflowClient

        self.cfg = platform.cfg
        self._http = httpx.Client(timeout=10)
        self._registry = MlflowClient(tracking_uri=self.cfg.mlflow_url)

    def query(self, promql: str) -> list[dict[str, Any]]:
        """An instant PromQL query's result vector."""
        body = self._http.get(f"{self.cfg.prometheus_url}/api/v1/query", params={"query": promql}).json()
        if body.get("status") != "success":
            raise DevLoopError(f"Prometheus query {promql!r} failed: {body}")
        return list(body["data"]["result"])

    def alerts(self) -> dict[str, str]:
        """Drift alerts that are pending or firing, by name."""
        names = "|".join(DRIFT_ALERTS)
        return {
            r["metric"]["alertname"]: r["metric"]["alertstate"]
            for r in self.query(f'ALERTS{{alertname=~"{names}"}}')
        }

    def serving_psi(self) -> dict[str, float]:
        """Each feature's PSI as serving computes it now (its /metrics, not Prometheus' last scrape)."""
        url = f"http://{self.cfg.host}:{self.cfg.serving_metrics_port}{Route.METRICS}"
        text = self._http.get(url).text
        return {
            sample.labels["feature"]: sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == FEATURE_DRIFT.name
        }

    def max_psi(self) -> tuple[float, str] | None:
        """The largest per-feature PSI the alert rules see and its feature; None while the window fills."""
        top = self.query(f"topk(1, {FEATURE_PSI})")
        if not top:
            return None
        return float(top[0]["value"][1]), str(top[0]["metric"].get("feature", "?"))

    def serving_scraped(self) -> bool:
        """Prometheus has scraped serving at least once."""
        return bool(self.query('up{job="serving"} == 1'))

    def retrainings(self) -> int:
        """Retrainings the trigger has started, over all alerts."""
        from prometheus_client.parser import text_string_to_metric_families

        text = self._http.get(f"{self.cfg.trigger_url}{Route.METRICS}").text
        return round(
            sum(
                sample.value
                for family in text_string_to_metric_families(text)
                for sample in family.samples
                if sample.name == RETRAINS_TRIGGERED
            )
        )

    def champion(self) -> str:
        """The champion alias's version."""
        return str(self._registry.get_model_version_by_alias(self.cfg.model_name, CHAMPION_ALIAS).version)

    def versions(self) -> dict[str, dict[str, str]]:
        """Every registered version's tags, by version."""
        found = self._registry.search_model_versions(f"name='{self.cfg.model_name}'")
        return {str(v.version): dict(v.tags) for v in found}

    def finished(self, known: set[str]) -> tuple[str, dict[str, str], str] | None:
        """A version not in `known` whose training run has ended: its tags and the run's status."""
        for v in self._registry.search_model_versions(f"name='{self.cfg.model_name}'"):
            if str(v.version) in known or not v.run_id:
                continue
            # The run ends after every gate tag and alias is written: the decision is complete by then.
            status = self._registry.get_run(v.run_id).info.status
            if status in TERMINAL_RUN_STATES:
                return str(v.version), dict(self._registry.get_model_version(v.name, v.version).tags), status
        return None

    def served_version(self) -> str | None:
        """The version serving answers with, if it has one loaded."""
        answer = self._http.get(f"{self.cfg.serving_url}{Route.MODEL}")
        return str(answer.json()["version"]) if answer.status_code == 200 else None

    def close(self) -> None:
        """Release the connection pool."""
        self._http.close()


@dataclass(frozen=True)
class AdaptationResult:
    """What happened after the shift, and when (seconds from the first shifted request)."""

    champion_before: str
    champion_after: str
    normal_accuracy: float
    """The champion on normal traffic, before the shift."""
    shifted_accuracy_before: float
    """The champion on the shifted traffic (live pool)."""
    shifted_accuracy_after: float
    """The new champion on shifted rows from the unseen pool, sent after the reload."""
    shifted_rows_before: int
    evaluation_versions: tuple[str, ...]
    """The versions that answered the evaluation traffic."""
    seconds_to_alert: float
    seconds_to_trigger: float
    seconds_to_promotion: float
    seconds_to_reload: float
    psi_at_alert: float
    drifted_feature: str
    alerts_at_alert: dict[str, str]
    retrainings: int
    """Retrainings started by the trigger, counted once serving had reloaded."""
    versions_added: int
    """Versions registered between the shift and the reload."""
    gate: dict[str, str]
    """The new version's gate and lineage tags."""
    psi_after: dict[str, float] = field(default_factory=dict)
    """Serving's PSI per feature after the evaluation traffic, against the new model's reference profile."""


@dataclass(frozen=True)
class ControlResult:
    """What happened during unshifted traffic."""

    champion_before: str
    champion_after: str
    observed_seconds: float
    rows: int
    accuracy: float
    alerts_seen: dict[str, str]
    """Drift alerts seen pending or firing at any poll (none expected)."""
    max_psi: float | None
    """The largest per-feature PSI seen; None if the drift window never held enough rows."""
    psi_samples: int
    """Polls at which the drift rules had a PSI to evaluate (the window guard was passed)."""
    retrainings: int
    versions_added: int


class _Clock:
    """Seconds since a start, and a reporter that prefixes them."""

    def __init__(self, report: Reporter, label: str) -> None:
        self.start = time.monotonic()
        self._report = report
        self._label = label

    def since(self) -> float:
        return time.monotonic() - self.start

    def say(self, message: str) -> None:
        self._report(f"[{self._label} +{self.since():5.1f}s] {message}")


def _wait(
    what: str,
    check: Callable[[], Any],
    timeout: float,
    platform: LocalPlatform,
    stream: LiveStream | None = None,
    status: Callable[[], None] | None = None,
    status_every: float = 15.0,
) -> Any:
    """Poll `check` once a second until it returns something truthy; DevLoopError names the step."""
    deadline = time.monotonic() + timeout
    next_status = time.monotonic() + status_every
    while time.monotonic() < deadline:
        platform.check_alive()
        if stream is not None:
            stream.check()
        try:
            found = check()
        except httpx.HTTPError:
            found = None  # a process busy under load answers the next poll
        if found:
            return found
        if status is not None and time.monotonic() >= next_status:
            status()
            next_status = time.monotonic() + status_every
        time.sleep(1.0)
    raise DevLoopError(f"timed out after {timeout:.0f}s waiting for {what}")


def _preflight(platform: LocalPlatform, observer: Observer) -> None:
    names = {p.name for p in platform.processes}
    missing = {"prometheus", "alertmanager", "retrain-trigger"} - names
    if missing:
        raise DevLoopError(
            f"the drift demo needs {', '.join(sorted(missing))} running: install Prometheus and Alertmanager "
            "(apt-get install prometheus prometheus-alertmanager, or scripts/setup.sh system)"
        )
    if platform.cfg.inference_log_dir is None:
        raise DevLoopError("the drift demo needs the inference log: python -m devloop --inference-log 1")
    _wait("Prometheus to scrape serving", observer.serving_scraped, 60, platform)


def _send(platform: LocalPlatform, batches: Iterator[Batch], rows: int, tally: Tally) -> None:
    traffic = Traffic(platform)
    try:
        while tally.rows() < rows:
            traffic.send(next(batches), tally)
    finally:
        traffic.close()


def adapt(
    platform: LocalPlatform,
    report: Reporter = print,
    stream: ShiftedStream | None = None,
    pace: Pace = Pace(),
) -> AdaptationResult:
    """Shift the world and follow the platform until it serves a model that fits it again."""
    shifted = stream or ShiftedStream()
    return _observed(platform, lambda observer: _adapt(platform, observer, shifted, pace, report))


def _observed(platform: LocalPlatform, run: Callable[[Observer], _R]) -> _R:
    """`run` with an Observer of `platform`, after the preflight checks; the observer closed afterwards."""
    observer = Observer(platform)
    try:
        _preflight(platform, observer)
        return run(observer)
    finally:
        observer.close()


def _adapt(
    platform: LocalPlatform, observer: Observer, stream: ShiftedStream, pace: Pace, report: Reporter
) -> AdaptationResult:
    champion = observer.champion()
    known_versions = set(observer.versions())
    spec = stream.spec
    normal = Tally()
    report(f"normal traffic: {pace.normal_rows} labelled rows to champion v{champion}")
    _send(platform, stream.batches(Phase.NORMAL), pace.normal_rows, normal)
    report(f"  champion v{champion} accuracy on normal traffic: {normal.accuracy():.3f}")

    clock = _Clock(report, "shift")
    clock.say(
        f"the shift starts: {spec.feature!r} reads {spec.shift_sd:g} SD higher (+{stream.shift:.1f}), and "
        f"rows whose unshifted value is above {stream.threshold:.1f} are now malignant; each request gets "
        "feedback"
    )
    live = LiveStream(platform, stream.batches(Phase.SHIFTED), pace).start()
    try:

        def status() -> None:
            psi = observer.max_psi()
            shown = "window still filling" if psi is None else f"max PSI {psi[0]:.2f} ({psi[1]})"
            clock.say(
                f"  {live.tally.rows()} shifted rows sent, accuracy so far {live.tally.accuracy():.3f}; "
                f"{shown}; drift alerts {observer.alerts() or 'none'}"
            )

        def firing() -> dict[str, str] | None:
            alerts = observer.alerts()
            return alerts if alerts.get("FeatureDrift") == "firing" else None

        def wait(what: str, check: Callable[[], Any], timeout: float) -> Any:
            return _wait(what, check, timeout, platform, live, status, pace.status_every_seconds)

        alerts = wait("FeatureDrift to fire", firing, pace.alert_timeout_seconds)
        seconds_to_alert = clock.since()
        psi, feature = observer.max_psi() or (float("nan"), "?")
        clock.say(f"FeatureDrift firing: {feature!r} PSI {psi:.2f} (alerts: {alerts})")

        wait("the retrain trigger to start a retraining", observer.retrainings, 60)
        seconds_to_trigger = clock.since()
        clock.say("Alertmanager called the retrain trigger: one retraining started (python -m training)")

        try:
            # The alias moves at promotion; a run that ends without moving it was rejected or failed.
            wait(
                "the retraining's gate decision",
                lambda: observer.champion() != champion or observer.finished(known_versions),
                pace.retrain_timeout_seconds,
            )
            seconds_to_promotion = clock.since()
            version, tags, run_status = wait(
                "the retraining run to end", lambda: observer.finished(known_versions), 60
            )
        except DevLoopError as exc:
            raise DevLoopError(f"{exc}; the retraining's output:\n{_trigger_log(platform)}") from None
        decision = tags.get(Tag.GATE_DECISION)
        reason = tags.get(Tag.GATE_REASON, "")
        if run_status != "FINISHED" or decision != "promoted" or observer.champion() != version:
            raise DevLoopError(
                f"the retraining registered v{version} (run {run_status}) but the gate did not promote it "
                f"({decision}: {reason}); the retraining's output:\n{_trigger_log(platform)}"
            )
        clock.say(
            f"v{version} promoted: {reason} (holdout: {tags.get(Tag.GATE_HOLDOUT)}, "
            f"{tags.get(Tag.FEEDBACK_ROWS)} labelled-traffic rows trained on)"
        )

        wait(
            f"serving to reload v{version}",
            lambda: observer.served_version() == version,
            pace.reload_timeout_seconds,
        )
        seconds_to_reload = clock.since()
        retrainings = observer.retrainings()
        versions_added = len(set(observer.versions()) - known_versions)
        clock.say(f"serving reloaded v{version} without a restart")
    finally:
        live.stop()
    before = live.tally.accuracy(champion)
    clock.say(
        f"champion v{champion} on the shifted traffic: {before:.3f} over {live.tally.rows(champion)} rows "
        "(predictions vs feedback)"
    )

    evaluation = Tally()
    _send(platform, stream.batches(Phase.SHIFTED_UNSEEN), pace.evaluation_rows, evaluation)
    after = evaluation.accuracy(version)
    clock.say(
        f"v{version} on {evaluation.rows(version)} shifted rows it never saw: {after:.3f} "
        f"(was {before:.3f}: {after - before:+.3f})"
    )
    psi_after = observer.serving_psi()
    top = max(psi_after.items(), key=lambda kv: kv[1], default=("?", float("nan")))
    clock.say(
        f"drift against v{version}'s reference profile after those rows: max PSI {top[1]:.2f} ({top[0]!r}; "
        f"FeatureDrift fires above {platform.cfg.drift_feature_psi})"
    )
    return AdaptationResult(
        champion_before=champion,
        champion_after=version,
        normal_accuracy=normal.accuracy(),
        shifted_accuracy_before=before,
        shifted_accuracy_after=after,
        shifted_rows_before=live.tally.rows(champion),
        evaluation_versions=tuple(sorted(evaluation.total)),
        seconds_to_alert=seconds_to_alert,
        seconds_to_trigger=seconds_to_trigger,
        seconds_to_promotion=seconds_to_promotion,
        seconds_to_reload=seconds_to_reload,
        psi_at_alert=psi,
        drifted_feature=feature,
        alerts_at_alert=alerts,
        retrainings=retrainings,
        versions_added=versions_added,
        gate=tags,
        psi_after=psi_after,
    )


def control_seconds(platform: LocalPlatform) -> float:
    """An observation window that covers the drift alert's `for:` and the evaluation intervals around it."""
    spec = platform.monitoring_spec()
    return duration_seconds(spec.thresholds.drift_for) + 4 * duration_seconds(spec.scrape_interval) + 15


def control(
    platform: LocalPlatform,
    report: Reporter = print,
    stream: ShiftedStream | None = None,
    pace: Pace = Pace(),
) -> ControlResult:
    """The same labelled traffic without the shift, watched for drift alerts and retrainings."""
    unshifted = stream or ShiftedStream()
    return _observed(platform, lambda observer: _control(platform, observer, unshifted, pace, report))


def _control(
    platform: LocalPlatform, observer: Observer, stream: ShiftedStream, pace: Pace, report: Reporter
) -> ControlResult:
    champion = observer.champion()
    known_versions = set(observer.versions())
    window = pace.control_seconds or control_seconds(platform)
    clock = _Clock(report, "control")
    clock.say(
        f"normal traffic with feedback for {window:.0f}s (covers the drift alert's for: and evaluations)"
    )
    live = LiveStream(platform, stream.batches(Phase.NORMAL), pace).start()
    alerts_seen: dict[str, str] = {}
    psi_values: list[float] = []
    next_status = time.monotonic() + pace.status_every_seconds
    try:
        while clock.since() < window:
            platform.check_alive()
            live.check()
            alerts_seen |= observer.alerts()
            psi = observer.max_psi()
            if psi is not None:
                psi_values.append(psi[0])
            if time.monotonic() >= next_status:
                shown = "window still filling" if psi is None else f"max PSI {psi[0]:.2f} ({psi[1]})"
                clock.say(f"  {live.tally.rows()} rows sent; {shown}; drift alerts {alerts_seen or 'none'}")
                next_status = time.monotonic() + pace.status_every_seconds
            time.sleep(2.0)
    finally:
        live.stop()
    result = ControlResult(
        champion_before=champion,
        champion_after=observer.champion(),
        observed_seconds=clock.since(),
        rows=live.tally.rows(),
        accuracy=live.tally.accuracy(),
        alerts_seen=alerts_seen,
        max_psi=max(psi_values) if psi_values else None,
        psi_samples=len(psi_values),
        retrainings=observer.retrainings(),
        versions_added=len(set(observer.versions()) - known_versions),
    )
    clock.say(
        f"{result.rows} rows, champion v{champion} accuracy {result.accuracy:.3f}; max PSI "
        f"{'n/a' if result.max_psi is None else f'{result.max_psi:.2f}'}; drift alerts "
        f"{alerts_seen or 'none'}; {result.retrainings} retraining(s); champion v{result.champion_after}"
    )
    return result


def verdict(result: AdaptationResult | ControlResult) -> list[str]:
    """What did not happen as the demo promises (empty: it all did)."""
    if isinstance(result, ControlResult):
        return [
            problem
            for ok, problem in [
                (not result.alerts_seen, f"drift alerts without a shift: {result.alerts_seen}"),
                (result.retrainings == 0, f"{result.retrainings} retraining(s) without a shift"),
                (result.champion_after == result.champion_before, "the champion changed without a shift"),
                (result.psi_samples > 0, "the drift window never held enough rows to be evaluated"),
            ]
            if not ok
        ]
    gain = result.shifted_accuracy_after - result.shifted_accuracy_before
    return [
        problem
        for ok, problem in [
            (result.retrainings == 1, f"{result.retrainings} retrainings instead of one"),
            (result.gate.get(Tag.GATE_HOLDOUT) == "labelled-traffic", "the gate did not score on new data"),
            (gain >= RECOVERY_MARGIN, f"accuracy recovered by {gain:+.3f}, less than {RECOVERY_MARGIN}"),
        ]
        if not ok
    ]


def run_demo(platform: LocalPlatform, demo: DriftDemo, report: Reporter = print) -> bool:
    """The `--demo-drift` command: run it, print a summary; True if it all happened as promised."""
    report(f"\ndrift demo ({demo.value}): a labelled breast-cancer stream (devloop/shifted_stream.py)")
    result: AdaptationResult | ControlResult = (
        adapt(platform, report) if demo is DriftDemo.ADAPT else control(platform, report)
    )
    if isinstance(result, AdaptationResult):
        report(
            f"\nshift -> FeatureDrift firing {result.seconds_to_alert:.1f}s, -> retraining started "
            f"{result.seconds_to_trigger:.1f}s, -> v{result.champion_after} promoted "
            f"{result.seconds_to_promotion:.1f}s, -> served {result.seconds_to_reload:.1f}s"
        )
        report(
            f"accuracy on the shifted traffic: v{result.champion_before} "
            f"{result.shifted_accuracy_before:.3f} -> v{result.champion_after} "
            f"{result.shifted_accuracy_after:.3f}"
        )
    problems = verdict(result)
    for problem in problems:
        report(f"demo FAILED: {problem}")
    if not problems:
        report("demo passed")
    return not problems


def require_fresh_state(platform: LocalPlatform) -> None:
    """A demo measures a champion trained before the change: refuse a state dir with a registry already."""
    registry = platform.cfg.state_dir / "mlflow"
    if registry.exists():
        raise DevLoopError(
            f"--demo-drift needs a fresh state dir, but {registry} exists (its champion may already be an "
            "adapted one): drop --state-dir to get a new one"
        )


def _trigger_log(platform: LocalPlatform) -> str:
    for proc in platform.processes:
        if proc.name == "retrain-trigger":
            return proc.log_tail(30)
    return "(no retrain trigger)"


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def duration_seconds(text: str) -> float:
    """A Prometheus duration ("30s", "1m30s") in seconds; ValueError if it is not one."""
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"{text!r} is not a Prometheus duration")
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
