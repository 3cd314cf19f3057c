"""MLflow's scoring protocol (`mlflow models serve`): /invocations, /ping, /health, /version.

Clients written for `mlflow models serve` work unchanged: the four JSON input formats (`dataframe_split`,
`dataframe_records`, `instances`, `inputs`) and `text/csv`, `{"predictions": [...]}` back, and MLflow's error
shape (`{"error_code": "BAD_REQUEST", "message": ...}`, 400). No pandas: rows become the same float matrix
/v1/predict builds, so validation, micro-batching, drift and metrics are shared.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pydantic_core
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, StrictInt, StrictStr, ValidationError

from services.serving.errors import as_message, summarize_errors
from services.serving.inference import ModelRejected, infer
from services.serving.schemas import Number
from services.serving.settings import Settings
from services.serving.state import Served
from services.serving.validation import InputError, columns_to_matrix, to_matrix

INVOCATIONS = "/invocations"
PING = "/ping"
HEALTH = "/health"
VERSION = "/version"

# The MLflow scoring protocol revision this server speaks (the one MLflow 2 introduced and 3 keeps);
# /version answers it because this process has no MLflow installed to report.
PROTOCOL_VERSION = "3"

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
_JSON = "application/json"
CSV = "text/csv"

router = APIRouter(tags=["MLflow scoring protocol"])


class DataframeSplit(BaseModel):
    """pandas' `split` orientation: column names, rows of values; `index` is accepted and ignored."""

    model_config = ConfigDict(extra="forbid")

    columns: list[str] | None = None
    data: list[list[Number]]
    index: list[StrictInt | StrictStr] | None = None


Tensor = list[list[Number]] | list[dict[str, Number]] | dict[str, list[Number]]


class InvocationsRequest(BaseModel):
    """Exactly one of the input formats; `params` is accepted for compatibility and unused (no model here
    declares inference parameters)."""

    model_config = ConfigDict(extra="forbid")

    dataframe_split: DataframeSplit | None = None
    dataframe_records: list[dict[str, Number]] | None = None
    instances: Tensor | None = None
    inputs: Tensor | None = None
    params: dict[str, Any] | None = None


class ScoringError(Exception):
    """A request MLflow would answer with an error body; status and error code as MLflow sends them."""

    def __init__(self, message: str, status: int = 400, error_code: str = "BAD_REQUEST") -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code


def error_response(exc: ScoringError) -> Response:
    """MLflow's error body (no stack trace: MLflow includes one, this server never sends its internals)."""
    body = json.dumps({"error_code": exc.error_code, "message": str(exc)})
    return Response(body, status_code=exc.status, media_type=_JSON)


def _served(request: Request) -> Served:
    served: Served | None = request.app.state.serving.current
    if served is None:
        raise ScoringError("no model loaded yet", status=503, error_code="TEMPORARILY_UNAVAILABLE")
    return served


async def _ping(request: Request) -> Response:
    """200 once a model is loaded (what `mlflow models serve` clients wait for), 503 before."""
    ready = request.app.state.serving.current is not None
    return Response("\n", status_code=200 if ready else 503, media_type=_JSON)


router.add_api_route(PING, _ping, methods=["GET"], summary="Ping", response_class=Response)
router.add_api_route(HEALTH, _ping, methods=["GET"], summary="Health", response_class=Response)


@router.get(VERSION, response_class=Response)
async def version() -> Response:
    """The scoring protocol version (MLflow's own server answers its package version here)."""
    return Response(PROTOCOL_VERSION, media_type=_JSON)


INVOCATIONS_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            _JSON: {"schema": InvocationsRequest.model_json_schema()},
            CSV: {"schema": {"type": "string"}},
        },
    }
}


@router.post(
    INVOCATIONS,
    response_class=Response,
    openapi_extra=INVOCATIONS_BODY,
    responses={
        200: {"description": '`{"predictions": [...]}`, one per row'},
        400: {"description": 'MLflow\'s error body: `{"error_code": "BAD_REQUEST", "message": ...}`'},
        415: {"description": "not JSON or CSV (plain-text message, as MLflow)"},
        503: {"description": "no model loaded yet"},
    },
)
async def invocations(request: Request) -> Response:
    """Score a batch in any of MLflow's input formats; predictions as `mlflow models serve` returns them."""
    try:
        mime = _content_type(request.headers.get("content-type"))
        served = _served(request)
        settings: Settings = request.app.state.settings
        body = await request.body()
        await request.app.state.parse_turns.take(len(body))  # large bodies: one parse per loop iteration
        names = served.model.feature_names
        if mime == CSV:
            matrix = parse_csv(body, names, settings.max_batch_rows)
        else:
            matrix = parse_json(body, names, settings.max_batch_rows)
        predictions, _ = await infer(request.app.state, served, matrix)
    except ScoringError as exc:
        return error_response(exc)
    except InputError as exc:
        return error_response(ScoringError(_join(exc)))
    except ModelRejected as exc:
        return error_response(ScoringError(str(exc)))
    except _Unsupported as exc:
        return Response(str(exc), status_code=415, media_type="text/plain")
    return Response(pydantic_core.to_json({"predictions": predictions}), media_type=_JSON)


class _Unsupported(Exception):
    """A content type MLflow answers with 415 and a plain-text message."""


def _content_type(header: str | None) -> str:
    """The media type, refusing what MLflow refuses (other types, other charsets, unknown parameters)."""
    parts = [part.strip() for part in (header or "").split(";")]
    mime = parts[0].lower()
    params = {key.strip().lower(): value.strip() for key, _, value in (p.partition("=") for p in parts[1:])}
    if mime not in {_JSON, CSV}:
        raise _Unsupported(f"This predictor only supports the following content types: {_JSON}, {CSV}.")
    if params.get("charset", "utf-8").lower() != "utf-8":
        raise _Unsupported("The scoring server only supports UTF-8")
    unknown = sorted(set(params) - {"charset"})
    if unknown:
        raise _Unsupported(f"Unrecognized content type parameters: {', '.join(k[:32] for k in unknown)}")
    return mime


def parse_json(body: bytes, names: Sequence[str], max_rows: int) -> npt.NDArray[np.float64]:
    """The float matrix (signature order) of a JSON body in any of the four formats."""
    try:
        request = InvocationsRequest.model_validate_json(body)
    except ValidationError as exc:
        raise ScoringError(as_message(summarize_errors(exc.errors()))) from None
    # Keys present count, even as null: `{"inputs": [...], "instances": null}` is ambiguous, not a choice.
    given = [name for name in FORMATS if name in request.model_fields_set]
    if len(given) != 1 or getattr(request, given[0]) is None:
        raise ScoringError(
            f"The input must be a JSON dictionary with exactly one of the input fields {', '.join(FORMATS)}"
            f" (got {len(given)})"
        )
    key = given[0]
    if request.dataframe_split is not None:
        split = request.dataframe_split
        return columns_to_matrix(split.columns, split.data, names, max_rows, (key, "data"))
    if request.dataframe_records is not None:
        return to_matrix(request.dataframe_records, names, max_rows, (key,))
    tensor: Tensor = getattr(request, key)
    if isinstance(tensor, dict):  # column-oriented: {"feature": [values...]}
        columns = list(tensor)
        lengths = {len(values) for values in tensor.values()}
        if len(lengths) > 1:
            raise ScoringError(f"{key}: every column must have the same number of values")
        data = [list(row) for row in zip(*tensor.values(), strict=True)]
        return columns_to_matrix(columns, data, names, max_rows, (key,))
    return to_matrix(tensor, names, max_rows, (key,))


def parse_csv(body: bytes, names: Sequence[str], max_rows: int) -> npt.NDArray[np.float64]:
    """The float matrix of a CSV body whose header names the columns (pandas' `to_csv(index=False)`)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ScoringError("CSV input is not valid UTF-8") from None
    lines = [row for row in csv.reader(io.StringIO(text)) if row]
    if len(lines) < 2:
        raise ScoringError("CSV input needs a header row of feature names and at least one data row")
    header, rows = lines[0], lines[1:]
    if len(rows) > max_rows:
        raise ScoringError(f"at most {max_rows} rows per request (got {len(rows)})")
    values: list[list[float]] = []
    for i, row in enumerate(rows, start=1):
        if len(row) != len(header):
            raise ScoringError(f"CSV row {i}: expected {len(header)} values, got {len(row)}")
        try:
            values.append([float(v) for v in row])
        except ValueError:
            raise ScoringError(f"CSV row {i}: every value must be a number") from None
    return columns_to_matrix(header, values, names, max_rows, ("csv", "rows"))


def _join(exc: InputError) -> str:
    return as_message([d.model_dump() for d in exc.details])
