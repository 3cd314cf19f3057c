"""Feature drift: PSI of a sliding window of recent inputs against the training reference profile."""

from __future__ import annotations

import threading

import numpy as np
import numpy.typing as npt

from mlops_contract.profile import ReferenceProfile, bin_indices_matrix, padded_edges, psi


class DriftMonitor:
    """Keeps per-feature bin counts for the last `window` rows; PSI is computed on demand (at scrape time).

    Adding rows is O(rows x features) with no per-scrape rescan, so it stays off the latency budget.
    """

    def __init__(self, profile: ReferenceProfile, window: int) -> None:
        self.profile = profile
        self.window = window
        n_features = len(profile.features)
        self._max_bins = max(len(f.frequencies) for f in profile.features) if n_features else 1
        self._bins = np.zeros((window, n_features), dtype=np.int32)
        self._counts = np.zeros((n_features, self._max_bins), dtype=np.int64)
        self._filled = 0
        self._next = 0
        self._edges = padded_edges(profile)
        # Flat counter index of (feature j, bin b) is j * max_bins + b: one bincount updates every feature.
        self._offsets = (np.arange(n_features) * self._max_bins).astype(np.int64)
        self._lock = threading.Lock()

    @property
    def rows(self) -> int:
        """Rows currently in the window."""
        return self._filled

    def observe(self, matrix: npt.NDArray[np.float64]) -> None:
        """Add a batch of rows (columns in profile order); the oldest rows fall out of the window."""
        if matrix.shape[0] > self.window:
            matrix = matrix[-self.window :]
        binned = bin_indices_matrix(matrix, self._edges).astype(np.int32)
        k = binned.shape[0]
        size = self._counts.size
        with self._lock:
            slots = (self._next + np.arange(k)) % self.window
            n_evicted = max(0, self._filled + k - self.window)
            if n_evicted:
                old = self._bins[slots[:n_evicted]]
                self._counts -= np.bincount((old + self._offsets).ravel(), minlength=size).reshape(
                    self._counts.shape
                )
            self._bins[slots] = binned
            self._counts += np.bincount((binned + self._offsets).ravel(), minlength=size).reshape(
                self._counts.shape
            )
            self._next = int((self._next + k) % self.window)
            self._filled = min(self.window, self._filled + k)

    def feature_psi(self) -> dict[str, float]:
        """PSI per feature for the current window (empty dict if no rows yet)."""
        with self._lock:
            if self._filled == 0:
                return {}
            frequencies = self._counts / float(self._filled)
        return {
            f.name: psi(f.frequencies, frequencies[j, : len(f.frequencies)].tolist())
            for j, f in enumerate(self.profile.features)
        }

    def score(self) -> float | None:
        """Overall drift: mean PSI over features (None before any input)."""
        per_feature = self.feature_psi()
        return float(np.mean(list(per_feature.values()))) if per_feature else None
