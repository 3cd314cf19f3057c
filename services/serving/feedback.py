"""POST /v1/feedback: true labels for logged requests, checked against the request index, stored as lines.

A batch is all or nothing: every item is checked first (404 naming the items whose id is unknown or
expired, else 422 naming the items whose labels do not fit), then the whole batch is written.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any, Self

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    model_validator,
)

from mlops_contract.inference_log import FeedbackRecord, utc_timestamp
from mlops_contract.names import Env, Route
from services.serving.inference_log import InferenceLog
from services.serving.metrics import ServingMetrics
from services.serving.request_index import Entry, RequestIndex
from services.serving.schemas import ErrorResponse
from services.serving.state import ServingState

router = APIRouter()

MAX_ITEMS = 1000
STORE_TIMEOUT_SECONDS = 10.0
Label = StrictBool | StrictInt | StrictFloat | StrictStr


class FeedbackItem(BaseModel):
    """The true label of a 1-row request (`label`) or one label per row (`labels`)."""

    # The schema says what the validator below enforces (exactly one of the two, neither null), so a
    # schema-valid item is never refused (schemathesis' positive-data check).
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"oneOf": [{"required": ["label"]}, {"required": ["labels"]}]},
    )

    request_id: Annotated[str, Field(min_length=1, max_length=128)]
    label: Label = Field(default=None, json_schema_extra={"not": {"type": "null"}})  # type: ignore[assignment]
    labels: Annotated[list[Label], Field(min_length=1)] = Field(default=None)  # type: ignore[arg-type]

    @model_validator(mode="after")
    def _one_of(self) -> Self:
        if (self.label is None) == (self.labels is None):
            raise ValueError("give exactly one of `label` (a 1-row request) or `labels` (one per row)")
        return self

    @property
    def all_labels(self) -> list[Any]:
        """The labels in row order."""
        return [self.label] if self.labels is None else list(self.labels)


class FeedbackRequest(BaseModel):
    """A batch of feedback items."""

    model_config = ConfigDict(extra="forbid")

    items: Annotated[list[FeedbackItem], Field(min_length=1, max_length=MAX_ITEMS)]


class FeedbackAccepted(BaseModel):
    """How many items were stored."""

    accepted: int


@router.post(
    Route.FEEDBACK,
    response_model=FeedbackAccepted,
    responses={404: {"model": ErrorResponse}, 422: {"model": ErrorResponse}, 503: {"model": ErrorResponse}},
)
async def feedback(body: FeedbackRequest, request: Request) -> FeedbackAccepted | JSONResponse:
    """Store true labels for logged requests (accepted for the feedback window after each request)."""
    app_state = request.app.state
    metrics: ServingMetrics = app_state.metrics
    inference_log: InferenceLog | None = getattr(app_state, "inference_log", None)
    if inference_log is None:
        return _error(404, f"feedback needs the inference log, which is off ({Env.INFERENCE_LOG_DIR} unset)")
    index = inference_log.index
    if not index.ready.is_set():
        return _error(503, "the request index is still loading from the log; retry shortly", retry=True)
    now = time.time()
    state: ServingState = app_state.serving
    if any(index.get(item.request_id) is None for item in body.items):
        # Another replica may have answered (and logged) the request: look at the shared volume again.
        await asyncio.to_thread(index.refresh, inference_log.config.directory, now)
    unknown, invalid = [], []
    for i, item in enumerate(body.items):
        loc: list[str | int] = ["body", "items", i]
        entry = index.get(item.request_id)
        if entry is None:
            unknown.append({"loc": [*loc, "request_id"], "msg": "unknown request id: not logged or evicted"})
        elif now - entry.logged_at > index.max_age_seconds:
            unknown.append(
                {
                    "loc": [*loc, "request_id"],
                    "msg": f"expired: feedback is accepted {index.max_age_seconds:.0f} s after the request",
                }
            )
        elif problem := _label_problem(item, entry, _classes(index, state, entry)):
            invalid.append({"loc": [*loc, "labels" if item.labels is not None else "label"], "msg": problem})
    if unknown:
        metrics.feedback_items.labels("rejected").inc(len(body.items))
        return JSONResponse(status_code=404, content={"detail": unknown})
    if invalid:
        metrics.feedback_items.labels("rejected").inc(len(body.items))
        return JSONResponse(status_code=422, content={"detail": invalid})
    stamp = utc_timestamp()
    records = [FeedbackRecord(item.request_id, stamp, tuple(item.all_labels)) for item in body.items]
    try:
        await asyncio.wait_for(
            asyncio.wrap_future(inference_log.submit_feedback(records)), timeout=STORE_TIMEOUT_SECONDS
        )
    except (OSError, TimeoutError):
        return _error(503, "could not store the feedback (log volume unavailable); retry later", retry=True)
    metrics.feedback_items.labels("accepted").inc(len(records))
    return FeedbackAccepted(accepted=len(records))


def _classes(index: RequestIndex, state: ServingState, entry: Entry) -> tuple[Any, ...] | None:
    known = index.classes(entry.model_version)
    served = state.current
    if known is None and served is not None and served.model.ref.version == entry.model_version:
        classes = served.model.classes
        return None if classes is None else tuple(classes)
    return known


def _label_problem(item: FeedbackItem, entry: Entry, classes: tuple[Any, ...] | None) -> str | None:
    labels = item.all_labels
    if len(labels) != entry.rows:
        return f"{len(labels)} label(s) for a request of {entry.rows} row(s): give one per row"
    if classes is not None:
        known = {_class_key(c) for c in classes}
        for position, label in enumerate(labels):
            if _class_key(label) not in known:
                shown = ", ".join(repr(c) for c in classes[:20])
                return f"label {position} is not one of the model's classes ({shown})"
    return None


def _class_key(value: Any) -> tuple[str, Any]:
    # True == 1 in Python, but a bool label is not the class 1; an int label is the float class 1.0.
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("number", float(value))
    return (type(value).__name__, value)


def _error(status: int, detail: str, retry: bool = False) -> JSONResponse:
    headers = {"Retry-After": "5"} if retry else None
    return JSONResponse(status_code=status, content={"detail": detail}, headers=headers)
