"""Alert episodes: the debounce unit. One firing episode of one alert starts at most one retraining."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class Episode:
    """An alert's firing period: Alertmanager's fingerprint (which labels) and when it started firing."""

    alertname: str
    fingerprint: str
    starts_at: str

    @property
    def key(self) -> str:
        """Stable short id, also usable in a Kubernetes name (lowercase hex)."""
        raw = f"{self.alertname}\0{self.fingerprint}\0{self.starts_at}".encode()
        return hashlib.sha256(raw).hexdigest()[:12]


class Ledger:
    """Episodes already acted on in this process. The Kubernetes backend is idempotent on its own (the Job
    name derives from the episode), so a restart that forgets this set still starts nothing twice."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def claim(self, episode: Episode) -> bool:
        """True the first time an episode is seen."""
        with self._lock:
            if episode.key in self._seen:
                return False
            self._seen.add(episode.key)
            return True

    def release(self, episode: Episode) -> None:
        """Forget an episode whose retraining could not be started, so Alertmanager's retry can start it."""
        with self._lock:
            self._seen.discard(episode.key)
