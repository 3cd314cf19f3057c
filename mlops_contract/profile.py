"""The training-feature reference profile: per-feature bins and frequencies, and PSI against it.

Training builds it from the training split and logs it next to the model; serving bins live inputs with the
same edges and compares. Both sides use these functions, so the binning rule cannot drift apart.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

PROFILE_FORMAT_VERSION = 1
DEFAULT_BINS = 10
# Empty bins would make PSI infinite; this floor is the usual smoothing.
_EPSILON = 1e-4


@dataclass(frozen=True)
class FeatureProfile:
    """Bin edges (interior cut points) and training frequencies for one feature."""

    name: str
    edges: tuple[float, ...]
    frequencies: tuple[float, ...]


@dataclass(frozen=True)
class ReferenceProfile:
    """Per-feature profiles of the training data, in model input order."""

    features: tuple[FeatureProfile, ...]
    n_samples: int
    version: int = PROFILE_FORMAT_VERSION

    @property
    def feature_names(self) -> list[str]:
        """Feature names in model input order."""
        return [f.name for f in self.features]

    def to_json(self) -> str:
        """Serialise (the artifact format)."""
        return json.dumps(
            {
                "version": self.version,
                "n_samples": self.n_samples,
                "features": [
                    {"name": f.name, "edges": list(f.edges), "frequencies": list(f.frequencies)}
                    for f in self.features
                ],
            },
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str) -> ReferenceProfile:
        """Parse the artifact format; ValueError names what is wrong."""
        try:
            raw = json.loads(text)
            version = int(raw["version"])
            if version != PROFILE_FORMAT_VERSION:
                raise ValueError(f"unsupported reference profile version {version}")
            features = tuple(
                FeatureProfile(
                    name=str(f["name"]),
                    edges=tuple(float(e) for e in f["edges"]),
                    frequencies=tuple(float(p) for p in f["frequencies"]),
                )
                for f in raw["features"]
            )
            for f in features:
                if len(f.frequencies) != len(f.edges) + 1:
                    raise ValueError(f"feature {f.name!r}: {len(f.edges)} edges need {len(f.edges) + 1} bins")
            return cls(features=features, n_samples=int(raw["n_samples"]), version=version)
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            raise ValueError(f"malformed reference profile: {exc}") from exc


def bin_indices(values: npt.ArrayLike, edges: Sequence[float]) -> npt.NDArray[np.intp]:
    """Bin index of each value: bin i holds edges[i-1] < v <= edges[i]; the outer bins are open-ended."""
    return np.searchsorted(np.asarray(edges, dtype=float), np.asarray(values, dtype=float), side="left")


def padded_edges(profile: ReferenceProfile) -> npt.NDArray[np.float64]:
    """All features' edges as one (features x max_edges) matrix, right-padded with +inf.

    With it, `bin_indices_matrix` bins a whole batch in one vectorised step; the +inf padding never counts,
    so the result equals `bin_indices` column by column.
    """
    width = max((len(f.edges) for f in profile.features), default=0)
    padded = np.full((len(profile.features), width), np.inf)
    for j, f in enumerate(profile.features):
        padded[j, : len(f.edges)] = f.edges
    return padded


def bin_indices_matrix(
    matrix: npt.NDArray[np.float64], edges: npt.NDArray[np.float64]
) -> npt.NDArray[np.intp]:
    """Bin index of every value of a (rows x features) matrix; same rule as `bin_indices` (edges < value)."""
    counts: npt.NDArray[np.intp] = (matrix[:, :, None] > edges[None, :, :]).sum(axis=2)
    return counts


def bin_frequencies(values: npt.ArrayLike, edges: Sequence[float]) -> npt.NDArray[np.float64]:
    """Fraction of values in each of the len(edges)+1 bins."""
    idx = bin_indices(values, edges)
    counts = np.bincount(idx, minlength=len(edges) + 1).astype(float)
    total = counts.sum()
    return counts / total if total else counts


def build_profile(
    features: npt.ArrayLike, names: Sequence[str], bins: int = DEFAULT_BINS
) -> ReferenceProfile:
    """Quantile bins per feature (duplicate cut points collapsed, so discrete features stay valid)."""
    matrix = np.asarray(features, dtype=float)
    if matrix.ndim != 2 or matrix.shape[1] != len(names):
        raise ValueError(f"expected a 2-D array with {len(names)} columns, got shape {matrix.shape}")
    quantiles = np.linspace(0, 1, bins + 1)[1:-1]
    profiles = []
    for col, name in enumerate(names):
        column = matrix[:, col]
        edges = tuple(float(e) for e in np.unique(np.quantile(column, quantiles)))
        freqs = tuple(float(p) for p in bin_frequencies(column, edges))
        profiles.append(FeatureProfile(name=str(name), edges=edges, frequencies=freqs))
    return ReferenceProfile(features=tuple(profiles), n_samples=int(matrix.shape[0]))


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    """Population stability index between two frequency vectors over the same bins."""
    if len(expected) != len(actual):
        raise ValueError("expected and actual must have the same number of bins")
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        e_s, a_s = max(e, _EPSILON), max(a, _EPSILON)
        total += (a_s - e_s) * math.log(a_s / e_s)
    return total
