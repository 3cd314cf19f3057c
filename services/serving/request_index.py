"""Recently logged request ids, so feedback is checked against what was served (bounded, rebuilt on start).

Feedback for a request is accepted while its id is in the index and younger than `max_age_seconds`. The
index keeps at most `max_entries` ids (the oldest fall out first); after a restart it is rebuilt from the
request files still on disk, so a restart loses nothing the disk cap has not already deleted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_contract.inference_log import RECORD_SUFFIX, REQUESTS_DIR, RequestRecord, parse_timestamp

log = logging.getLogger("serving.feedback")

REFRESH_MIN_SECONDS = 1.0
# Files are scanned again if modified shortly before the last scan (mtime granularity, clock skew).
REFRESH_OVERLAP_SECONDS = 5.0


@dataclass(frozen=True)
class Entry:
    """What feedback validation needs to know about one logged request."""

    rows: int
    model_version: str
    logged_at: float
    """Seconds since the epoch."""


class RequestIndex:
    """Thread-safe LRU-by-insertion map of request id -> Entry; `ready` is set once the rebuild finished."""

    def __init__(self, max_entries: int, max_age_seconds: float) -> None:
        self.max_entries = max_entries
        self.max_age_seconds = max_age_seconds
        self.ready = threading.Event()
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._classes: dict[str, tuple[Any, ...]] = {}
        self._lock = threading.Lock()
        self._scanned_at = 0.0

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, request_id: str, entry: Entry) -> None:
        """Remember a logged request (a repeated id is moved to the newest end)."""
        with self._lock:
            self._entries[request_id] = entry
            self._entries.move_to_end(request_id)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def discard(self, request_id: str) -> None:
        """Forget a request whose record could not be written (feedback for it would point at nothing)."""
        with self._lock:
            self._entries.pop(request_id, None)

    def get(self, request_id: str) -> Entry | None:
        """The entry, or None if the id was never logged or has fallen out."""
        with self._lock:
            return self._entries.get(request_id)

    def remember_classes(self, model_version: str, classes: Iterable[Any] | None) -> None:
        """A model version's class labels, for checking feedback labels after that version is replaced."""
        if classes is not None and model_version not in self._classes:
            self._classes[model_version] = tuple(classes)

    def classes(self, model_version: str) -> tuple[Any, ...] | None:
        """Known class labels of a version (None: not a classifier, or unknown since a restart)."""
        return self._classes.get(model_version)

    def rebuild(self, directory: Path, now: float) -> int:
        """Load ids from the request files on disk (oldest first), then keep what live traffic added since."""
        self._scanned_at = time.time()
        loaded = self._scan(directory, now, since=None)
        with self._lock:
            for request_id, entry in self._entries.items():
                loaded[request_id] = entry
                loaded.move_to_end(request_id)
            self._entries = loaded
            self._trim()
        self.ready.set()
        return len(loaded)

    def refresh(self, directory: Path, now: float) -> bool:
        """Add ids other replicas logged to the shared volume since the last scan (at most once a second).

        Called when feedback names an id this replica has not seen: behind a Service, feedback may reach
        another replica than the one that answered the request. False if it ran too recently.
        """
        with self._lock:
            if time.time() - self._scanned_at < REFRESH_MIN_SECONDS:
                return False
            since = self._scanned_at - REFRESH_OVERLAP_SECONDS
            self._scanned_at = time.time()
        found = self._scan(directory, now, since=since)
        with self._lock:
            for request_id, entry in found.items():
                if request_id not in self._entries:
                    self._entries[request_id] = entry
            self._trim()
        return True

    def _trim(self) -> None:
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def _scan(self, directory: Path, now: float, since: float | None) -> OrderedDict[str, Entry]:
        """Entries from request files (finished and being written) modified after `since`, oldest first."""
        loaded: OrderedDict[str, Entry] = OrderedDict()
        skipped = 0
        folder = directory / REQUESTS_DIR
        paths = sorted(folder.glob(f"*{RECORD_SUFFIX}"), key=_written_order) if folder.is_dir() else []
        for path in paths:
            try:
                if since is not None and path.stat().st_mtime < since:
                    continue
                lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                continue  # deleted by another replica's cap, or published (renamed) meanwhile
            for line in lines:
                try:
                    record = RequestRecord.from_line(line)
                    logged_at = parse_timestamp(record.timestamp).timestamp()
                except ValueError:
                    skipped += 1  # a torn last line of a file being written, or damage
                    continue
                if now - logged_at <= self.max_age_seconds:
                    loaded[record.request_id] = Entry(len(record.inputs), record.model_version, logged_at)
                    loaded.move_to_end(record.request_id)
                    if len(loaded) > self.max_entries:
                        loaded.popitem(last=False)
        if skipped:
            log.info("request index: skipped %d unreadable log lines", skipped)
        return loaded


def _written_order(path: Path) -> str:
    # Names start with the UTC time the file was opened; a leading "." marks a file still being written.
    return path.name.lstrip(".")
