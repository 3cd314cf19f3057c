"""The promotion decision: a pure function of the two scores and the gate's settings."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Decision(StrEnum):
    """What the gate did with the candidate."""

    PROMOTED = "promoted"
    REJECTED = "rejected"


@dataclass(frozen=True)
class GateResult:
    """The decision and a sentence saying why (written to the model version's tags)."""

    decision: Decision
    reason: str
    challenger: bool = True
    """False when the candidate failed an absolute bar (floor, baseline): never a challenger then."""

    @property
    def promoted(self) -> bool:
        """True if the candidate takes the champion alias."""
        return self.decision is Decision.PROMOTED


def decide(metric: str, candidate: float, champion: float | None, margin: float, floor: float) -> GateResult:
    """Promote if above the floor and (no champion, or better than the champion by more than the margin)."""
    if candidate < floor:
        return GateResult(
            Decision.REJECTED, f"{metric} {candidate:.4f} is below the floor {floor:.4f}", challenger=False
        )
    if champion is None:
        return GateResult(Decision.PROMOTED, f"first model: {metric} {candidate:.4f} >= floor {floor:.4f}")
    if candidate > champion + margin:
        return GateResult(
            Decision.PROMOTED,
            f"{metric} {candidate:.4f} beats the champion's {champion:.4f} by more than {margin:.4f}",
        )
    return GateResult(
        Decision.REJECTED,
        f"{metric} {candidate:.4f} does not beat the champion's {champion:.4f} by more than {margin:.4f}",
    )


@dataclass(frozen=True)
class GateScores:
    """Every score the gate looks at; trusted_* are on the trusted holdout (None when it is the same one)."""

    candidate: float
    champion: float | None
    baseline: float
    trusted_candidate: float | None = None
    trusted_champion: float | None = None
    trusted_baseline: float | None = None


def decide_guarded(
    metric: str, scores: GateScores, margin: float, floor: float, baseline_margin: float
) -> GateResult:
    """decide(), plus: beat the trivial baseline by baseline_margin (on both holdouts) and do not fall behind
    the champion on the trusted holdout by more than the margin (new data alone cannot crown a model)."""
    bars = [("", scores.candidate, scores.baseline)]
    if scores.trusted_candidate is not None and scores.trusted_baseline is not None:
        bars.append(("on the trusted holdout ", scores.trusted_candidate, scores.trusted_baseline))
    for where, candidate, baseline in bars:
        if candidate <= baseline + baseline_margin:
            return GateResult(
                Decision.REJECTED,
                f"{where}{metric} {candidate:.4f} does not beat the trivial baseline's {baseline:.4f} "
                f"by more than {baseline_margin:.4f}",
                challenger=False,
            )
    result = decide(metric, scores.candidate, scores.champion, margin, floor)
    if not result.promoted or scores.trusted_champion is None or scores.trusted_candidate is None:
        return result
    if scores.trusted_candidate + margin < scores.trusted_champion:
        return GateResult(
            Decision.REJECTED,
            f"on the trusted holdout {metric} {scores.trusted_candidate:.4f} falls behind the champion's "
            f"{scores.trusted_champion:.4f} by more than {margin:.4f}",
        )
    trusted = f"trusted holdout {scores.trusted_candidate:.4f} vs {scores.trusted_champion:.4f}"
    return GateResult(result.decision, f"{result.reason}; {trusted}")
