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

    @property
    def promoted(self) -> bool:
        """True if the candidate takes the champion alias."""
        return self.decision is Decision.PROMOTED


def decide(metric: str, candidate: float, champion: float | None, margin: float, floor: float) -> GateResult:
    """Promote if above the floor and (no champion, or better than the champion by more than the margin)."""
    if candidate < floor:
        return GateResult(Decision.REJECTED, f"{metric} {candidate:.4f} is below the floor {floor:.4f}")
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
