"""The served model and its drift window, swapped atomically when a new version loads."""

from __future__ import annotations

from dataclasses import dataclass

from services.serving.drift import DriftMonitor
from services.serving.model import LoadedModel


@dataclass(frozen=True)
class Served:
    """A model together with the drift window that belongs to it (a new version starts a new window)."""

    model: LoadedModel
    drift: DriftMonitor | None


class ServingState:
    """Holds the current Served; readers take one reference and use it for a whole request."""

    def __init__(self, drift_window: int) -> None:
        self._current: Served | None = None
        self._drift_window = drift_window

    @property
    def current(self) -> Served | None:
        """What is being served now (None until the first load)."""
        return self._current

    def swap(self, model: LoadedModel) -> Served:
        """Install a new model by one reference assignment: a request sees the old or the new, never a mix."""
        drift = DriftMonitor(model.profile, self._drift_window) if model.profile is not None else None
        served = Served(model=model, drift=drift)
        self._current = served
        return served
