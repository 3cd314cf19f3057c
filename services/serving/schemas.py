"""Request and response bodies of the serving API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt

# JSON numbers only (strings and booleans are refused here); finiteness and float64 range are checked
# when the matrix is built, because pydantic's own check overflows on huge integers.
Number = StrictFloat | StrictInt


class PredictRequest(BaseModel):
    """A batch of rows: each a list of values in signature order, or an object keyed by feature name."""

    model_config = ConfigDict(extra="forbid")

    rows: list[list[Number]] | list[dict[str, Number]] = Field(min_length=1)


class PredictResponse(BaseModel):
    """Predictions, per-class probabilities (columns in `classes` order) and the version that made them."""

    predictions: list[Any]
    probabilities: list[list[float]] | None
    classes: list[Any] | None
    model_name: str
    model_version: str


class ModelInfo(BaseModel):
    """The model being served."""

    name: str
    version: str
    alias: str
    run_id: str
    registered_at: float
    loaded_at: float
    feature_names: list[str]
    classes: list[Any] | None
    signature: dict[str, Any] | None
    drift_reference: bool


class Status(BaseModel):
    """Probe response."""

    status: str
    detail: str | None = None


class ErrorDetail(BaseModel):
    """One validation problem: where it is and what is wrong (never the submitted value)."""

    loc: list[str | int]
    msg: str


class ErrorResponse(BaseModel):
    """4xx/5xx body."""

    detail: list[ErrorDetail] | str
