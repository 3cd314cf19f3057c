"""Open Inference Protocol (KServe V2 / Triton REST): health, server and model metadata, infer.

Inputs are named after the signature's columns, each a tensor of shape [N] (or [N, 1]); one 2-D tensor of
shape [N, features] in signature order is accepted too (what clients of a plain scikit-learn server send).
Outputs: `predict` (labels, shape [N]) and, for classifiers, `predict_proba` (shape [N, classes], columns in
the order `/v1/model` lists under `classes`). A request's `outputs` list picks among them.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pydantic_core
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError

from services.serving.errors import as_message, summarize_errors
from services.serving.inference import ModelRejected, infer
from services.serving.protocols.oip_v2_plain import plain_request
from services.serving.schemas import Number
from services.serving.settings import Settings
from services.serving.signature import Feature, features, tensor_heads
from services.serving.state import Served
from services.serving.validation import InputError, check_finite

SERVER_NAME = "mlops-platform-serving"
PREDICT_OUTPUT = "predict"
PROBA_OUTPUT = "predict_proba"
_JSON = "application/json"

router = APIRouter(tags=["Open Inference Protocol (V2)"])


class InferInput(BaseModel):
    """One input tensor, data flattened in row-major order."""

    model_config = ConfigDict(extra="forbid")

    name: StrictStr
    shape: list[int] = Field(min_length=1, max_length=2)
    datatype: StrictStr
    parameters: dict[str, Any] | None = None
    data: list[Number] | list[list[Number]]


class RequestedOutput(BaseModel):
    """An output the client wants back."""

    model_config = ConfigDict(extra="forbid")

    name: StrictStr
    parameters: dict[str, Any] | None = None


class InferRequest(BaseModel):
    """The V2 inference request."""

    model_config = ConfigDict(extra="forbid")

    id: StrictStr | None = None
    parameters: dict[str, Any] | None = None
    inputs: list[InferInput] = Field(min_length=1)
    outputs: list[RequestedOutput] | None = None


class V2Error(Exception):
    """An error in the protocol's shape: `{"error": message}`."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _error(exc: V2Error) -> Response:
    return Response(json.dumps({"error": str(exc)}), status_code=exc.status, media_type=_JSON)


def _served(app_state: Any, name: str, version: str | None) -> Served:
    """The served model if name (and version, if given) match it; V2Error 404/503 otherwise."""
    served: Served | None = app_state.serving.current
    settings: Settings = app_state.settings
    if name != settings.model_name:
        raise V2Error(f"unknown model {name[:64]!r}; this server serves {settings.model_name!r}", 404)
    if served is None:
        raise V2Error("no model loaded yet", 503)
    if version is not None and version != served.model.ref.version:
        raise V2Error(f"version {version[:32]!r} is not loaded; serving {served.model.ref.version}", 404)
    return served


@router.get("/v2/health/live")
async def live() -> dict[str, bool]:
    """The process serves HTTP."""
    return {"live": True}


@router.get("/v2/health/ready", responses={503: {"description": "no model loaded yet"}})
async def ready(request: Request) -> Response:
    """A model is loaded."""
    loaded = request.app.state.serving.current is not None
    return Response(json.dumps({"ready": loaded}), status_code=200 if loaded else 503, media_type=_JSON)


@router.get("/v2")
async def server_metadata() -> dict[str, Any]:
    """Server name, version and protocol extensions (none)."""
    return {"name": SERVER_NAME, "version": "2", "extensions": []}


async def model_metadata(request: Request, name: str, version: str | None = None) -> Response:
    """Inputs (signature columns: name, datatype, shape) and outputs of the served model."""
    try:
        served = _served(request.app.state, name, version)
    except V2Error as exc:
        return _error(exc)
    return Response(json.dumps(metadata(served)), media_type=_JSON)


async def model_ready(request: Request, name: str, version: str | None = None) -> Response:
    """200 `{"ready": true}` while this model (version) is served."""
    try:
        _served(request.app.state, name, version)
    except V2Error as exc:
        return _error(exc)
    return Response(json.dumps({"name": name, "ready": True}), media_type=_JSON)


_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "another model or version"},
    503: {"description": "no model loaded"},
}
_MODEL = "/v2/models/{name}"
_VERSION = "/v2/models/{name}/versions/{version}"
router.add_api_route(_MODEL, model_metadata, methods=["GET"], responses=_NOT_FOUND)
router.add_api_route(_VERSION, model_metadata, methods=["GET"], responses=_NOT_FOUND)
router.add_api_route(f"{_MODEL}/ready", model_ready, methods=["GET"], responses=_NOT_FOUND)
router.add_api_route(f"{_VERSION}/ready", model_ready, methods=["GET"], responses=_NOT_FOUND)


def metadata(served: Served) -> dict[str, Any]:
    """The V2 model metadata document, from the signature."""
    model = served.model
    outputs = [{"name": PREDICT_OUTPUT, "datatype": _label_datatype(model.classes), "shape": [-1]}]
    if model.classes is not None and hasattr(model.estimator, "predict_proba"):
        outputs.append({"name": PROBA_OUTPUT, "datatype": "FP64", "shape": [-1, len(model.classes)]})
    return {
        "name": model.ref.name,
        "versions": [model.ref.version],
        "platform": "sklearn",
        "inputs": [{"name": f.name, "datatype": f.datatype, "shape": [-1]} for f in features(model)],
        "outputs": outputs,
    }


INFER_BODY: dict[str, Any] = {
    "requestBody": {"required": True, "content": {_JSON: {"schema": InferRequest.model_json_schema()}}}
}
_INFER_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": '`{"error": message}`'},
    **_NOT_FOUND,
}


async def infer_route(request: Request, name: str, version: str | None = None) -> Response:
    """Predict a batch given as V2 tensors; outputs `predict` and (classifiers) `predict_proba`."""
    app_state = request.app.state  # once: each lookup on Starlette's State is a Python-level __getattr__
    try:
        served = _served(app_state, name, version)
        raw = await request.body()
        await app_state.parse_turns.take(len(raw))  # large bodies: one parse per loop iteration
        settings: Settings = app_state.settings
        matrix, wanted, request_id = parse_infer(raw, served, settings.max_batch_rows)
        predictions, probabilities = await infer(app_state, served, matrix)
    except V2Error as exc:
        return _error(exc)
    except InputError as exc:
        return _error(V2Error(as_message([d.model_dump() for d in exc.details])))
    except ModelRejected as exc:
        return _error(V2Error(str(exc)))
    model = served.model
    outputs = []
    if PREDICT_OUTPUT in wanted:
        outputs.append(
            {
                "name": PREDICT_OUTPUT,
                "datatype": _label_datatype(predictions),
                "shape": [len(predictions)],
                "data": predictions,
            }
        )
    if PROBA_OUTPUT in wanted and probabilities is not None:
        flat = list(itertools.chain.from_iterable(probabilities))
        shape = [len(probabilities), len(probabilities[0]) if probabilities else 0]
        outputs.append({"name": PROBA_OUTPUT, "datatype": "FP64", "shape": shape, "data": flat})
    response: dict[str, Any] = {"model_name": model.ref.name, "model_version": model.ref.version}
    if request_id is not None:
        response["id"] = request_id
    response["outputs"] = outputs
    # pydantic's serializer (Rust): json.dumps of 100 rows' outputs cost a tenth of the request.
    return Response(pydantic_core.to_json(response), media_type=_JSON)


router.add_api_route(
    f"{_MODEL}/infer", infer_route, methods=["POST"], openapi_extra=INFER_BODY, responses=_INFER_RESPONSES
)
router.add_api_route(
    f"{_VERSION}/infer", infer_route, methods=["POST"], openapi_extra=INFER_BODY, responses=_INFER_RESPONSES
)


def parse_infer(
    raw: bytes, served: Served, max_rows: int
) -> tuple[npt.NDArray[np.float64], set[str], str | None]:
    """The request's matrix in signature order, the outputs it wants and its id; V2Error if it is invalid."""
    plain = plain_request(raw, tensor_heads(served.model))
    if plain is not None:
        matrix, request_id = plain
        return _bounded(matrix, max_rows), _available_outputs(served), request_id
    try:
        body = InferRequest.model_validate_json(raw)
    except ValidationError as exc:
        raise V2Error(as_message(summarize_errors(exc.errors()))) from None
    cols = features(served.model)
    # The parsed body (Python objects several times the matrix' size) is not kept while the request waits.
    return to_matrix(body, cols, max_rows), _wanted_outputs(body, served), body.id


def to_matrix(body: InferRequest, cols: Sequence[Feature], max_rows: int) -> npt.NDArray[np.float64]:
    """The float matrix in signature order: one tensor per column, or one [N, columns] tensor."""
    if len(body.inputs) == 1 and len(cols) != 1:
        matrix = _single_tensor(body.inputs[0], cols)
    else:
        matrix = _columns(_checked_tensors(body.inputs, cols))
    return _bounded(matrix, max_rows)


def _bounded(matrix: npt.NDArray[np.float64], max_rows: int) -> npt.NDArray[np.float64]:
    """matrix if it has 1 to max_rows rows of finite values in range; V2Error or InputError otherwise."""
    if matrix.shape[0] < 1:
        raise V2Error("at least one row is required")
    if matrix.shape[0] > max_rows:
        raise V2Error(f"at most {max_rows} rows per request (got {matrix.shape[0]})")
    return check_finite(matrix, ("inputs",))


def _single_tensor(tensor: InferInput, cols: Sequence[Feature]) -> npt.NDArray[np.float64]:
    """One [rows, columns] tensor, all columns of one datatype."""
    n = len(cols)
    kinds = {c.datatype for c in cols}
    if len(kinds) != 1 or tensor.datatype != cols[0].datatype:
        raise V2Error(
            f"inputs[0]: a single input must have the columns' datatype {'/'.join(sorted(kinds))}"
            f" (got {tensor.datatype[:16]!r}); with mixed datatypes send one input per column"
        )
    values = _values(tensor)
    if len(tensor.shape) != 2 or tensor.shape[1] != n:
        raise V2Error(f"inputs[0]: a single input must have shape [rows, {n}] (got {tensor.shape})")
    return values.reshape(tensor.shape[0], n)


def _checked_tensors(tensors: list[InferInput], cols: Sequence[Feature]) -> list[InferInput]:
    """The tensors in signature order; V2Error naming the first that is missing, unknown or mistyped."""
    names = [c.name for c in cols]
    by_name = {t.name: t for t in tensors}
    missing = [name for name in names if name not in by_name]
    known = set(names)
    unknown = [t.name[:64] for t in tensors if t.name not in known]
    if missing or unknown or len(by_name) != len(tensors):
        raise V2Error(
            f"inputs must be the model's {len(names)} columns, once each"
            + (f"; missing: {', '.join(missing[:5])}" if missing else "")
            + (f"; unknown: {', '.join(unknown[:5])}" if unknown else "")
        )
    ordered = [by_name[name] for name in names]
    for col, tensor in zip(cols, ordered, strict=True):
        # As Triton does: a client sending another type than the metadata names has the wrong model.
        if tensor.datatype != col.datatype:
            raise V2Error(
                f"inputs[{tensor.name[:64]}]: datatype {tensor.datatype[:16]!r}, expected {col.datatype}"
            )
        if len(tensor.shape) == 2 and tensor.shape[1] != 1:
            raise V2Error(
                f"inputs[{tensor.name[:64]}]: shape must be [rows] or [rows, 1] (got {tensor.shape})"
            )
    return ordered


def _columns(tensors: list[InferInput]) -> npt.NDArray[np.float64]:
    """One column per tensor, as a [rows, columns] matrix, each checked against its shape."""
    columns = [_values(t) for t in tensors]
    if any(c.shape[0] != columns[0].shape[0] for c in columns):
        raise V2Error("every input must have the same number of rows")
    return np.column_stack(columns)


def _values(tensor: InferInput) -> npt.NDArray[np.float64]:
    """The tensor's data as a flat float array, checked against its shape."""
    data: list[Any] = tensor.data
    if data and isinstance(data[0], list):
        data = [v for row in data for v in row]
    try:
        values = np.array(data, dtype=float)
    except (OverflowError, ValueError):
        raise V2Error(f"inputs[{tensor.name[:64]}]: data must be numbers within float64 range") from None
    if any(d < 0 for d in tensor.shape) or math.prod(tensor.shape) != values.size:
        raise V2Error(
            f"inputs[{tensor.name[:64]}]: shape {tensor.shape} does not match {values.size} data values"
        )
    return values


def _available_outputs(served: Served) -> set[str]:
    return {PREDICT_OUTPUT} | ({PROBA_OUTPUT} if served.model.classes is not None else set())


def _wanted_outputs(body: InferRequest, served: Served) -> set[str]:
    available = _available_outputs(served)
    if body.outputs is None:
        return available
    names = {o.name for o in body.outputs}
    unknown = sorted(n[:64] for n in names - available)
    if unknown:
        raise V2Error(f"unknown output(s) {', '.join(unknown)}; available: {', '.join(sorted(available))}")
    return names


def _label_datatype(values: list[Any] | None) -> str:
    sample = values[0] if values else 0
    if isinstance(sample, bool):
        return "BOOL"
    if isinstance(sample, int):
        return "INT64"
    if isinstance(sample, float):
        return "FP64"
    return "BYTES"
