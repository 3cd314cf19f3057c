"""Data validation before anything is logged: sanity of the data itself, then checks against the champion.

Each check yields findings with a severity; the configured strictness decides which severities refuse the
data. FATAL findings (data no estimator can learn from: infinities, a single class, too few rows per class,
only constant features) refuse it at every strictness.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum

import numpy as np
import pandas as pd

from mlops_contract.profile import ReferenceProfile, bin_frequencies, psi
from training.config import ConfigError, Strictness
from training.data import Dataset

# A feature whose most common value covers at least this share of rows carries almost no signal.
NEAR_CONSTANT_SHARE = 0.99
# Below this share the minority class is easy to ignore: an all-majority model scores well on accuracy.
MIN_CLASS_SHARE = 0.05
# The usual PSI reading: above 0.25 the distribution moved a lot (expected when retraining on drift).
PSI_SHIFT = 0.25


class Severity(StrEnum):
    """How bad a finding is; the strictness maps severities to refusal."""

    FATAL = "fatal"
    ERROR = "error"
    WARNING = "warning"


_REFUSED: dict[Strictness, frozenset[Severity]] = {
    Strictness.STRICT: frozenset(Severity),
    Strictness.STANDARD: frozenset({Severity.FATAL, Severity.ERROR}),
    Strictness.LENIENT: frozenset({Severity.FATAL}),
}


@dataclass(frozen=True)
class Finding:
    """One problem: which check, which column (feature or target), how bad, and what exactly."""

    check: str
    column: str | None
    severity: Severity
    message: str


@dataclass(frozen=True)
class Reference:
    """What the champion was trained on: its feature profile and label set (either may be unknown)."""

    version: str
    profile: ReferenceProfile | None
    labels: tuple[str, ...] | None


@dataclass(frozen=True)
class ValidationReport:
    """All findings, the strictness they were judged at, and per-feature PSI against the reference."""

    strictness: Strictness
    findings: tuple[Finding, ...]
    reference_version: str | None = None
    psi: dict[str, float] = field(default_factory=dict)

    @property
    def failures(self) -> list[Finding]:
        """Findings that refuse the data at this strictness."""
        return [f for f in self.findings if f.severity in _REFUSED[self.strictness]]

    @property
    def status(self) -> str:
        """passed, passed_with_warnings or failed (the MLflow tag value)."""
        if self.failures:
            return "failed"
        return "passed_with_warnings" if self.findings else "passed"

    def merged(self, other: ValidationReport) -> ValidationReport:
        """Both reports' findings (the reference checks add to the sanity checks)."""
        return ValidationReport(
            strictness=self.strictness,
            findings=self.findings + other.findings,
            reference_version=other.reference_version or self.reference_version,
            psi={**self.psi, **other.psi},
        )

    def raise_if_failed(self, dataset_name: str) -> None:
        """DataValidationError listing every failure (one line each, naming the column)."""
        failures = self.failures
        if failures:
            lines = "; ".join(f.message for f in failures)
            raise DataValidationError(
                f"dataset {dataset_name}: data validation failed ({self.strictness.value}): {lines}"
            )

    def to_json(self) -> str:
        """The validation report artifact."""
        return json.dumps(
            {
                "status": self.status,
                "strictness": self.strictness.value,
                "reference_version": self.reference_version,
                "findings": [asdict(f) for f in self.findings],
                "psi": self.psi,
            },
            indent=1,
        )


class DataValidationError(ConfigError):
    """The data was refused; the message names each offending column."""


def check_sanity(dataset: Dataset, strictness: Strictness, min_rows_per_class: int) -> ValidationReport:
    """Checks that need nothing but the data (run before the network is touched)."""
    findings = [
        *_finite(dataset.features),
        *_classes(dataset.target, dataset.target_name, min_rows_per_class),
        *_constant(dataset.features, reference=None),
    ]
    return ValidationReport(strictness=strictness, findings=tuple(findings))


def check_against_reference(
    dataset: Dataset, reference: Reference, strictness: Strictness
) -> ValidationReport:
    """Schema, label set, features that stopped varying, distribution shift: against the champion's data."""
    findings: list[Finding] = []
    shifts: dict[str, float] = {}
    if reference.labels is not None:
        findings += _labels(dataset.target, dataset.target_name, reference)
    profile = reference.profile
    if profile is not None:
        findings += _schema(list(map(str, dataset.features.columns)), profile, reference.version)
        findings += [
            f for f in _constant(dataset.features, reference=profile) if f.severity is Severity.ERROR
        ]
        shifts = _shift(dataset.features, profile)
        findings += [
            Finding(
                "shift",
                name,
                Severity.WARNING,
                f"column {name!r}: distribution moved from the champion's training data "
                f"(PSI {value:.2f} > {PSI_SHIFT})",
            )
            for name, value in shifts.items()
            if value > PSI_SHIFT
        ]
    return ValidationReport(
        strictness=strictness, findings=tuple(findings), reference_version=reference.version, psi=shifts
    )


def _finite(features: pd.DataFrame) -> list[Finding]:
    findings = []
    for name in features.columns:
        values = features[name].to_numpy(dtype=float)
        bad = int((~np.isfinite(values)).sum())
        if bad:
            findings.append(
                Finding(
                    "finite",
                    str(name),
                    Severity.FATAL,
                    f"column {str(name)!r}: {bad} non-finite value(s) (inf or NaN)",
                )
            )
    return findings


def _classes(target: pd.Series, target_name: str, min_rows: int) -> list[Finding]:
    counts = target.value_counts()
    if len(counts) < 2:
        return [
            Finding(
                "classes",
                target_name,
                Severity.FATAL,
                f"target column {target_name!r}: needs at least two classes (found {len(counts)})",
            )
        ]
    findings = []
    small = {str(label): int(n) for label, n in counts.items() if n < min_rows}
    if small:
        listed = ", ".join(f"{label}: {n}" for label, n in small.items())
        findings.append(
            Finding(
                "rows_per_class",
                target_name,
                Severity.FATAL,
                f"target column {target_name!r}: fewer than {min_rows} rows for class(es) {listed}",
            )
        )
    share = counts.min() / counts.sum()
    if share < MIN_CLASS_SHARE:
        findings.append(
            Finding(
                "class_balance",
                target_name,
                Severity.WARNING,
                f"target column {target_name!r}: class {counts.idxmin()!s} is only {share:.1%} of the rows",
            )
        )
    return findings


def _constant(features: pd.DataFrame, reference: ReferenceProfile | None) -> list[Finding]:
    varied_before = (
        {f.name for f in reference.features if len(f.edges) > 1} if reference is not None else set()
    )
    findings = []
    constant = []
    for name in map(str, features.columns):
        top_share = float(features[name].value_counts(normalize=True).iloc[0])
        if top_share >= 1.0:
            constant.append(name)
            if name in varied_before:
                findings.append(
                    Finding(
                        "constant",
                        name,
                        Severity.ERROR,
                        f"column {name!r}: constant, but it varied in the champion's training data",
                    )
                )
            elif reference is None:
                findings.append(Finding("constant", name, Severity.WARNING, f"column {name!r}: constant"))
        elif top_share >= NEAR_CONSTANT_SHARE and reference is None:
            findings.append(
                Finding(
                    "near_constant",
                    name,
                    Severity.WARNING,
                    f"column {name!r}: one value in {top_share:.1%} of the rows",
                )
            )
    if reference is None and constant and len(constant) == features.shape[1]:
        findings.append(
            Finding(
                "constant",
                None,
                Severity.FATAL,
                f"every feature column is constant ({', '.join(constant[:5])}"
                f"{', ...' if len(constant) > 5 else ''})",
            )
        )
    return findings


def _schema(columns: Sequence[str], profile: ReferenceProfile, version: str) -> list[Finding]:
    expected = profile.feature_names
    missing = [c for c in expected if c not in columns]
    extra = [c for c in columns if c not in expected]
    findings = [
        Finding("schema", c, Severity.ERROR, f"column {c!r}: missing (the champion v{version} uses it)")
        for c in missing
    ]
    findings += [
        Finding("schema", c, Severity.ERROR, f"column {c!r}: not a feature of the champion v{version}")
        for c in extra
    ]
    return findings


def _labels(target: pd.Series, target_name: str, reference: Reference) -> list[Finding]:
    now = {str(v) for v in target.unique()}
    before = set(reference.labels or ())
    findings = []
    if now - before:
        findings.append(
            Finding(
                "labels",
                target_name,
                Severity.ERROR,
                f"target column {target_name!r}: new label(s) {', '.join(sorted(now - before))} "
                f"(champion v{reference.version} knows {', '.join(sorted(before))})",
            )
        )
    if before - now:
        findings.append(
            Finding(
                "labels",
                target_name,
                Severity.ERROR,
                f"target column {target_name!r}: label(s) {', '.join(sorted(before - now))} missing "
                f"(champion v{reference.version} was trained on them)",
            )
        )
    return findings


def _shift(features: pd.DataFrame, profile: ReferenceProfile) -> dict[str, float]:
    shifts = {}
    for f in profile.features:
        if f.name in features.columns:
            actual = bin_frequencies(features[f.name].to_numpy(dtype=float), f.edges)
            value = psi(f.frequencies, [float(a) for a in actual])
            shifts[f.name] = value if math.isfinite(value) else float("inf")
    return shifts


def label_set(target: pd.Series) -> str:
    """The label set as a tag value (sorted, comma-separated), so the next run can compare against it."""
    return ",".join(sorted(str(v) for v in target.unique()))


def parse_label_set(value: str | None) -> tuple[str, ...] | None:
    """Inverse of label_set; None when the champion carries no label tag (trained before it existed)."""
    return None if not value else tuple(value.split(","))
