"""A seeded stream of labelled breast-cancer traffic whose world can change in one feature.

The change has two sides, as it does when an instrument is replaced and the clinic's rule changes with it:
- the inputs: one feature (`worst texture`) reads `shift_sd` standard deviations higher than in the
  training data, so the feature-level drift alert sees it while the other 29 features stay put;
- the labels: they follow a rule the champion cannot know, a tumour whose (unshifted) value of that feature
  is in the top `1 - high_quantile` of the reference data is malignant whatever it was before.
A logistic regression trained on labelled traffic from the new world can learn both (the shift is an offset it
absorbs, the rule is monotone in the shifted feature); the champion, trained before the change, gets most of
the relabelled and many of the shifted rows wrong.

Rows are drawn with replacement from the bundled dataset, with a small multiplicative jitter so no two
requests repeat. The dataset's rows are split once (seeded) into a live pool, which all traffic before the
reload comes from, and an unseen pool for measuring the new model after it: its accuracy is measured on
tumours that never reached its training data through the labelled traffic.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

# The dataset's target: 0 malignant, 1 benign.
MALIGNANT = 0


class Phase(StrEnum):
    """Which world a batch comes from, and from which rows."""

    NORMAL = "normal"
    """The training world (live pool)."""
    SHIFTED = "shifted"
    """The changed world (live pool): what serving sees, and clients label, after the shift."""
    SHIFTED_UNSEEN = "shifted-unseen"
    """The changed world from the unseen pool: measures a model trained on the SHIFTED traffic."""


@dataclass(frozen=True)
class StreamSpec:
    """What changes, by how much, and the seed that makes every batch reproducible."""

    feature: str = "worst texture"
    """The one input that shifts (a strong predictor in the champion, so the shift alone misleads it)."""
    shift_sd: float = 8.0
    """Shift in standard deviations of the feature in the training data."""
    high_quantile: float = 0.7
    """Rows whose unshifted value is above this quantile of the data are malignant after the change."""
    rows_per_request: int = 10
    jitter: float = 0.01
    """Relative noise on every value (multiplicative, normal)."""
    unseen_share: float = 0.3
    """Share of the dataset's rows kept out of the live pool."""
    seed: int = 15


@dataclass(frozen=True)
class Batch:
    """One request's rows (in the dataset's feature order) and their true labels."""

    rows: list[list[float]]
    labels: list[int]


class ShiftedStream:
    """Batches of one phase, reproducible from the spec's seed (each phase has its own generator)."""

    def __init__(self, spec: StreamSpec | None = None) -> None:
        from sklearn.datasets import load_breast_cancer

        self.spec = spec or StreamSpec()
        bunch = load_breast_cancer()
        self.feature_names: tuple[str, ...] = tuple(str(n) for n in bunch.feature_names)
        if self.spec.feature not in self.feature_names:
            raise ValueError(f"feature {self.spec.feature!r} is not one of the dataset's columns")
        self._x: npt.NDArray[np.float64] = np.asarray(bunch.data, dtype=float)
        self._y: npt.NDArray[np.int64] = np.asarray(bunch.target, dtype=np.int64)
        self.column = self.feature_names.index(self.spec.feature)
        values = self._x[:, self.column]
        self.shift = float(self.spec.shift_sd * values.std())
        """Added to the feature's value in the changed world."""
        self.threshold = float(np.quantile(values, self.spec.high_quantile))
        """Unshifted values above this are malignant in the changed world."""
        order = np.random.default_rng(self.spec.seed).permutation(len(self._x))
        n_unseen = round(len(order) * self.spec.unseen_share)
        self._pools = {"live": order[n_unseen:], "unseen": order[:n_unseen]}

    def batches(self, phase: Phase) -> Iterator[Batch]:
        """An endless, seeded sequence of batches of this phase."""
        rng = np.random.default_rng([self.spec.seed, list(Phase).index(phase) + 1])
        pool = self._pools["unseen" if phase is Phase.SHIFTED_UNSEEN else "live"]
        while True:
            picked = rng.choice(pool, size=self.spec.rows_per_request, replace=True)
            rows = self._x[picked] * rng.normal(1.0, self.spec.jitter, size=(len(picked), self._x.shape[1]))
            labels = self._y[picked].copy()
            if phase is not Phase.NORMAL:
                labels = self.relabel(rows[:, self.column], labels)
                rows[:, self.column] += self.shift
            yield Batch(rows=rows.tolist(), labels=[int(v) for v in labels])

    def relabel(
        self, unshifted: npt.NDArray[np.float64], labels: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.int64]:
        """The changed world's rule: malignant where the feature is high, else the old label."""
        return np.where(unshifted > self.threshold, MALIGNANT, labels)
