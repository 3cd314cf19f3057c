"""KServe's V1 protocol (TensorFlow Serving style): `/v1/models/{name}` and `/v1/models/{name}:predict`.

`{"instances": [...]}` in, `{"predictions": [...]}` out; an instance is a list of values in signature order
or an object keyed by column name. Errors are `{"error": message}`, as KServe's model server sends them.
"""

from __future__ import annotations

import json
from typing import Any

import pydantic_core
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.serving.errors import as_message, summarize_errors
from services.serving.inference import ModelRejected, infer
from services.serving.schemas import Number
from services.serving.settings import Settings
from services.serving.state import Served
from services.serving.validation import InputError, to_matrix

MODEL = "/v1/models/{name}"
PREDICT = "/v1/models/{name}:predict"
_JSON = "application/json"

router = APIRouter(tags=["KServe V1"])


class PredictRequest(BaseModel):
    """A batch of instances."""

    model_config = ConfigDict(extra="forbid")

    instances: list[list[Number]] | list[dict[str, Number]] = Field(min_length=1)


def _error(message: str, status: int) -> Response:
    return Response(json.dumps({"error": message}), status_code=status, media_type=_JSON)


def _served(request: Request, name: str) -> Served | Response:
    settings: Settings = request.app.state.settings
    if name != settings.model_name:
        return _error(f"unknown model {name[:64]!r}; this server serves {settings.model_name!r}", 404)
    served: Served | None = request.app.state.serving.current
    return _error("no model loaded yet", 503) if served is None else served


_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "another model"},
    503: {"description": "no model loaded yet"},
}


PREDICT_BODY: dict[str, Any] = {
    "requestBody": {"required": True, "content": {_JSON: {"schema": PredictRequest.model_json_schema()}}}
}


@router.post(
    PREDICT,
    openapi_extra=PREDICT_BODY,
    responses={400: {"description": '`{"error": message}`'}, **_RESPONSES},
)
async def predict(request: Request, name: str) -> Response:
    """Predictions, one per instance."""
    served = _served(request, name)
    if isinstance(served, Response):
        return served
    settings: Settings = request.app.state.settings
    try:
        raw = await request.body()
        await request.app.state.parse_turns.take(len(raw))  # large bodies: one parse per loop iteration
        body = PredictRequest.model_validate_json(raw)
    except ValidationError as exc:
        return _error(as_message(summarize_errors(exc.errors())), 400)
    try:
        matrix = to_matrix(
            body.instances, served.model.feature_names, settings.max_batch_rows, ("instances",)
        )
        del body  # Python objects several times the matrix' size: not kept while the request waits
        predictions, _ = await infer(request.app.state, served, matrix)
    except InputError as exc:
        return _error(as_message([d.model_dump() for d in exc.details]), 400)
    except ModelRejected as exc:
        return _error(str(exc), 400)
    return Response(pydantic_core.to_json({"predictions": predictions}), media_type=_JSON)


# After the predict route: `/v1/models/{name}` would also match `<name>:predict` for other methods.
@router.get(MODEL, responses=_RESPONSES)
async def model_status(request: Request, name: str) -> Response:
    """`{"name": ..., "ready": true}` while the model is loaded."""
    served = _served(request, name)
    if isinstance(served, Response):
        return served
    return Response(json.dumps({"name": name, "ready": True}), media_type=_JSON)
