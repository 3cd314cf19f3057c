"""Model registry steps: find the champion, score it on the candidate's holdout, record and apply the gate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from mlops_contract.mlmodel import ModelFormatError
from mlops_contract.names import CHALLENGER_ALIAS, CHAMPION_ALIAS, Tag
from training.champion_model import load_version
from training.evaluate import evaluate
from training.gate import GateResult


@dataclass(frozen=True)
class Champion:
    """The version currently holding the champion alias, and its score on the candidate's holdout."""

    version: str
    score: float | None
    note: str = ""
    trusted_score: float | None = None
    """Its score on the trusted holdout (None when that is the candidate's holdout)."""


def current_champion(
    client: MlflowClient,
    model_name: str,
    metric: str,
    x_holdout: pd.DataFrame,
    y_holdout: pd.Series,
    trusted: tuple[pd.DataFrame, pd.Series] | None = None,
) -> Champion | None:
    """None if there is no champion; otherwise its version and gate-metric score on this holdout."""
    try:
        version = client.get_model_version_by_alias(model_name, CHAMPION_ALIAS)
    except MlflowException as exc:
        if exc.error_code in {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}:
            return None
        raise
    try:
        model: Any = load_version(client, model_name, str(version.version))
        score = evaluate(model, x_holdout, y_holdout).get(metric)
        trusted_score = None if trusted is None else evaluate(model, *trusted).get(metric)
    except ModelFormatError as exc:
        # Refused before anything was deserialised (a pickle, say): the gate keeps it for an operator.
        return Champion(version=str(version.version), score=None, note=f"champion refused, not loaded: {exc}")
    # Any other failure to score the champion (e.g. a different feature schema) is a gate reason, not a crash.
    except Exception as exc:
        return Champion(
            version=str(version.version), score=None, note=f"champion cannot score this holdout: {exc}"
        )
    return Champion(version=str(version.version), score=score, trusted_score=trusted_score)


def record_decision(
    client: MlflowClient,
    model_name: str,
    version: str,
    metric: str,
    candidate_score: float,
    champion: Champion | None,
    gate: GateResult,
) -> None:
    """Write the gate's decision, reason and both scores onto the model version."""
    tags = {
        Tag.GATE_DECISION: gate.decision.value,
        Tag.GATE_REASON: gate.reason,
        Tag.GATE_METRIC: metric,
        Tag.GATE_CANDIDATE_SCORE: f"{candidate_score:.6f}",
        Tag.GATE_CHAMPION_SCORE: ""
        if champion is None or champion.score is None
        else f"{champion.score:.6f}",
    }
    for key, value in tags.items():
        client.set_model_version_tag(model_name, version, key, value)


def apply_decision(client: MlflowClient, model_name: str, version: str, gate: GateResult) -> None:
    """Promoted: move the champion alias. Rejected: mark as challenger (the gate passed its floor only)."""
    if gate.promoted:
        client.set_registered_model_alias(model_name, CHAMPION_ALIAS, version)
    elif gate.challenger:
        client.set_registered_model_alias(model_name, CHALLENGER_ALIAS, version)
