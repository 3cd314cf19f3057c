"""The opt-in inference log: sampled prediction requests as JSON lines, written off the request path.

The request path only samples and enqueues (`log_prediction`); one background thread serialises, writes,
rotates and enforces the disk cap. A full queue drops the record, a failed write (disk full, volume gone)
loses it; both are counted in `mlops_inference_log_records{outcome=...}` and the request is answered as
usual. Formats and layout: mlops_contract.inference_log.

Files are named `<UTC time opened>-<host>-<pid>-<seq>.jsonl`, so several replicas can share one volume and
name order is age order. A file is written under a leading "." and renamed when it reaches `file_bytes`, is
`rotate_seconds` old, after a write error, or at shutdown. After each rotation the oldest finished files (of
any replica) are deleted until the directory fits `max_bytes` with room for the files being written.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import itertools
import logging
import os
import queue
import random
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from prometheus_client import Counter

from mlops_contract.inference_log import (
    FEEDBACK_DIR,
    RECORD_SUFFIX,
    REQUESTS_DIR,
    FeedbackRecord,
    RequestRecord,
    utc_timestamp,
)
from services.serving.logs import request_id as current_request_id
from services.serving.metrics import ServingMetrics
from services.serving.model import LoadedModel
from services.serving.request_index import Entry, RequestIndex
from services.serving.settings import Settings

log = logging.getLogger("serving.inference_log")

QUEUE_SIZE = 10_000
"""Records waiting for the writer; beyond this they are dropped (a stalled disk must not grow memory)."""
_STOP = object()


@dataclass(frozen=True)
class LogConfig:
    """Where and how much to log (from Settings)."""

    directory: Path
    sample_rate: float
    max_bytes: int
    file_bytes: int
    rotate_seconds: float


@dataclass
class _Pending:
    """A sampled request, serialised by the writer thread (the request path does no JSON work)."""

    request_id: str
    timestamp: str
    model: LoadedModel
    matrix: npt.NDArray[np.float64]
    predictions: list[Any]


@dataclass
class _FeedbackBatch:
    records: list[FeedbackRecord]
    done: concurrent.futures.Future[None] = field(default_factory=concurrent.futures.Future)


@dataclass
class _OpenFile:
    path: Path
    fd: int
    opened_at: float
    size: int = 0


class InferenceLog:
    """Owns the queue and the writer thread; `start()` in the app lifespan, `stop()` at shutdown."""

    def __init__(
        self,
        config: LogConfig,
        index: RequestIndex,
        records: Counter,
        sample: Callable[[], float] = random.random,
        queue_size: int = QUEUE_SIZE,
    ) -> None:
        self.config = config
        self.index = index
        self._records = records
        self._sample = sample
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._thread: threading.Thread | None = None
        self._files: dict[str, _OpenFile] = {}
        self._seq = itertools.count()
        self._host = re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname())[:63] or "serving"
        self._failures = 0

    # --- request path (event loop) ---

    def record_prediction(
        self, model: LoadedModel, matrix: npt.NDArray[np.float64], predictions: list[Any]
    ) -> None:
        """Sample and enqueue one answered request; never blocks, never raises."""
        if self.config.sample_rate <= 0 or self._sample() >= self.config.sample_rate:
            return
        rid = current_request_id.get() or uuid.uuid4().hex
        now = time.time()
        pending = _Pending(rid, utc_timestamp(), model, matrix, predictions)
        try:
            self._queue.put_nowait(pending)
        except queue.Full:
            self._records.labels(REQUESTS_DIR, "dropped").inc()
            return
        # Indexed now, not when written, so feedback sent right after the response finds it.
        self.index.add(rid, Entry(len(predictions), model.ref.version, now))
        if self.index.classes(model.ref.version) is None:  # `classes` converts every label: once a version
            self.index.remember_classes(model.ref.version, model.classes)

    def submit_feedback(self, records: list[FeedbackRecord]) -> concurrent.futures.Future[None]:
        """Enqueue feedback; the future resolves once it is on disk (or fails with the write error)."""
        batch = _FeedbackBatch(records)
        try:
            self._queue.put_nowait(batch)
        except queue.Full:
            self._records.labels(FEEDBACK_DIR, "dropped").inc(len(records))
            batch.done.set_exception(OSError("inference log queue full"))
        return batch.done

    # --- lifecycle ---

    def start(self) -> None:
        """Start the writer thread and the index rebuild (a second thread: it reads up to `max_bytes`)."""
        self._thread = threading.Thread(target=self._run, name="inference-log-writer", daemon=True)
        self._thread.start()
        threading.Thread(
            target=self.index.rebuild,
            args=(self.config.directory, time.time()),
            name="request-index",
            daemon=True,
        ).start()

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued, close (publish) the open files and stop the thread."""
        if self._thread is None:
            return
        with contextlib.suppress(queue.Full):
            self._queue.put(_STOP, timeout=timeout)
        self._thread.join(timeout)
        self._thread = None

    # --- writer thread ---

    def _run(self) -> None:
        self._recover_stale_files()
        while True:
            try:
                item = self._queue.get(timeout=self._until_next_rotation())
            except queue.Empty:
                item = None
            if item is _STOP:
                break
            try:
                self._rotate_old_files()
                if isinstance(item, _Pending):
                    self._write_request(item)
                elif isinstance(item, _FeedbackBatch):
                    self._write_feedback(item)
            except Exception:  # the writer must outlive any one bad record, or the queue fills for good
                log.exception("inference log: unexpected error in the writer")
                if isinstance(item, _FeedbackBatch) and not item.done.done():
                    item.done.set_exception(OSError("inference log writer error"))
        for kind in list(self._files):
            self._close(kind)

    def _write_request(self, item: _Pending) -> None:
        try:
            line = RequestRecord(
                request_id=item.request_id,
                timestamp=item.timestamp,
                model_name=item.model.ref.name,
                model_version=item.model.ref.version,
                features=item.model.feature_names,
                inputs=tuple(tuple(row) for row in item.matrix.tolist()),
                outputs=tuple(item.predictions),
            ).to_line()
            self._append(REQUESTS_DIR, line)
        except (OSError, ValueError, TypeError) as exc:
            self._failed(REQUESTS_DIR, 1, exc)
            self.index.discard(item.request_id)
            return
        self._records.labels(REQUESTS_DIR, "written").inc()

    def _write_feedback(self, batch: _FeedbackBatch) -> None:
        try:
            self._append(FEEDBACK_DIR, "\n".join(r.to_line() for r in batch.records))
        except OSError as exc:
            self._failed(FEEDBACK_DIR, len(batch.records), exc)
            batch.done.set_exception(exc)
            return
        self._records.labels(FEEDBACK_DIR, "written").inc(len(batch.records))
        batch.done.set_result(None)

    def _append(self, kind: str, text: str) -> None:
        data = (text + "\n").encode()
        current = self._files.get(kind)
        if current is not None and current.size + len(data) > self.config.file_bytes:
            self._close(kind)
            current = None
        if current is None:
            current = self._open(kind)
        try:
            written = os.write(current.fd, data)
            current.size += written
            if written != len(data):
                raise OSError(f"short write to {current.path.name}")
        except OSError:
            # Publish what is there and start a fresh file next time: appending after a torn line would
            # glue the next record onto it.
            self._close(kind)
            raise

    def _open(self, kind: str) -> _OpenFile:
        folder = self.config.directory / kind
        folder.mkdir(parents=True, exist_ok=True)
        self._enforce_cap()
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        name = f".{stamp}-{self._host}-{os.getpid()}-{next(self._seq):06d}{RECORD_SUFFIX}"
        path = folder / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        opened = _OpenFile(path, fd, time.monotonic())
        self._files[kind] = opened
        return opened

    def _close(self, kind: str) -> None:
        current = self._files.pop(kind, None)
        if current is None:
            return
        try:
            os.close(current.fd)
            if current.size:
                current.path.rename(current.path.with_name(current.path.name[1:]))
            else:
                current.path.unlink()
        except OSError as exc:
            log.warning("inference log: could not finish %s: %s", current.path.name, exc)

    def _until_next_rotation(self) -> float | None:
        if not self._files:
            return None
        oldest = min(f.opened_at for f in self._files.values())
        return max(0.01, oldest + self.config.rotate_seconds - time.monotonic())

    def _rotate_old_files(self) -> None:
        now = time.monotonic()
        for kind, current in list(self._files.items()):
            if now - current.opened_at >= self.config.rotate_seconds:
                self._close(kind)

    def _enforce_cap(self) -> None:
        """Delete the oldest finished files until the directory plus room for our open files fits the cap."""
        finished: list[tuple[str, Path, int]] = []
        total = 0
        for kind in (REQUESTS_DIR, FEEDBACK_DIR):
            for path in _record_files(self.config.directory / kind):
                try:
                    size = path.stat().st_size
                except OSError:
                    continue
                total += size
                if not path.name.startswith("."):
                    finished.append((path.name, path, size))
        reserve = 2 * self.config.file_bytes
        for _, path, size in sorted(finished):
            if total + reserve <= self.config.max_bytes:
                break
            try:
                path.unlink()
            except FileNotFoundError:
                pass  # another replica deleted it first
            except OSError as exc:
                log.warning("inference log: cannot delete %s: %s", path.name, exc)
                continue
            total -= size

    def _recover_stale_files(self) -> None:
        """Publish files a crashed replica left half-written (untouched for two rotation periods)."""
        cutoff = time.time() - 2 * self.config.rotate_seconds - 60
        for kind in (REQUESTS_DIR, FEEDBACK_DIR):
            for path in _record_files(self.config.directory / kind):
                try:
                    if path.name.startswith(".") and path.stat().st_mtime < cutoff:
                        path.rename(path.with_name(path.name[1:]))
                except OSError:
                    continue

    def _failed(self, kind: str, count: int, exc: BaseException) -> None:
        self._records.labels(kind, "failed").inc(count)
        self._failures += 1
        if self._failures == 1 or self._failures % 1000 == 0:  # a full disk must not flood the logs too
            log.warning("inference log: write failed (%d so far): %s", self._failures, exc)


def _record_files(folder: Path) -> Sequence[Path]:
    try:
        return [p for p in folder.iterdir() if p.name.endswith(RECORD_SUFFIX)]
    except OSError:
        return []


def log_prediction(
    app_state: Any, model: LoadedModel, matrix: npt.NDArray[np.float64], predictions: list[Any]
) -> None:
    """The one hook every prediction route calls after answering: logs a sample if the log is on."""
    inference_log: InferenceLog | None = getattr(app_state, "inference_log", None)
    if inference_log is not None:
        inference_log.record_prediction(model, matrix, predictions)


INDEX_MAX_ENTRIES = 1_000_000
"""Request ids kept for feedback (about 100 bytes each)."""


def build_inference_log(settings: Settings, metrics: ServingMetrics) -> InferenceLog | None:
    """The log the settings ask for, or None when it is off (no directory configured)."""
    if settings.inference_log_dir is None:
        return None
    config = LogConfig(
        directory=settings.inference_log_dir,
        sample_rate=settings.inference_log_sample_rate,
        max_bytes=settings.inference_log_max_bytes,
        file_bytes=settings.log_file_bytes,
        rotate_seconds=settings.inference_log_rotate_seconds,
    )
    index = RequestIndex(INDEX_MAX_ENTRIES, settings.feedback_max_age_seconds)
    return InferenceLog(config, index, metrics.inference_log_records)
