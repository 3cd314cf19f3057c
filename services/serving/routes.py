"""HTTP routes: probes, predict, model info (`/metrics` has its own listener: metrics_server.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from mlops_contract.names import Route
from services.serving.bounds import exceeds_budget, value_budget
from services.serving.errors import summarize_errors
from services.serving.inference import ModelRejected, infer
from services.serving.schemas import ErrorResponse, ModelInfo, PredictRequest, PredictResponse, Status
from services.serving.settings import Settings
from services.serving.state import Served, ServingState
from services.serving.validation import InputError, to_matrix

router = APIRouter()

NOT_READY = "no model loaded yet"
# A first load retries within seconds (watcher backoff); clients need not poll faster than that.
RETRY_AFTER_NOT_READY = "5"


async def get_state(request: Request) -> ServingState:
    """The app's serving state (set by create_app)."""
    state: ServingState = request.app.state.serving
    return state


async def get_settings(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


StateDep = Annotated[ServingState, Depends(get_state)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def _not_ready() -> JSONResponse:
    return JSONResponse(
        status_code=503, content={"detail": NOT_READY}, headers={"Retry-After": RETRY_AFTER_NOT_READY}
    )


@router.get(Route.HEALTHZ, response_model=Status)
async def healthz() -> Status:
    """Liveness: the process serves HTTP. Never looks at the registry."""
    return Status(status="ok")


@router.get(Route.READYZ, response_model=Status, responses={503: {"model": Status}})
async def readyz(state: StateDep) -> Status | JSONResponse:
    """Readiness: a model is loaded."""
    served = state.current
    if served is None:
        return JSONResponse(
            status_code=503,
            content={"status": "not ready", "detail": NOT_READY},
            headers={"Retry-After": RETRY_AFTER_NOT_READY},
        )
    return Status(status="ready", detail=f"{served.model.ref.name} v{served.model.ref.version}")


_PREDICT_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": PredictRequest.model_json_schema()}},
    }
}


@router.post(
    Route.PREDICT,
    response_model=PredictResponse,
    responses={
        408: {"model": ErrorResponse},
        413: {"model": ErrorResponse},
        415: {"model": ErrorResponse},
        422: {"model": ErrorResponse},
        503: {"model": ErrorResponse},
    },
    openapi_extra=_PREDICT_BODY,
)
async def predict(request: Request) -> Response:
    """Predict a batch: parse and check on the loop (cheap), estimator in the batcher's thread."""
    # app.state directly rather than Depends(): dependency resolution is a tenth of this route's CPU.
    app_state = request.app.state
    state: ServingState = app_state.serving
    settings: Settings = app_state.settings
    served: Served | None = state.current  # one reference for the whole request, even if a reload swaps
    if served is None:
        return _not_ready()
    raw = await request.body()
    model = served.model
    if exceeds_budget(raw, value_budget(settings.max_batch_rows, model.feature_names)):
        msg = f"at most {settings.max_batch_rows} rows of {len(model.feature_names)} values per request"
        return JSONResponse(status_code=422, content={"detail": [{"loc": ["body", "rows"], "msg": msg}]})
    await app_state.parse_turns.take(len(raw))  # large bodies: one parse per loop iteration
    # Rust-side JSON parsing + validation is several times faster than json.loads + model_validate.
    try:
        body = PredictRequest.model_validate_json(raw)
    except ValidationError as exc:
        return JSONResponse(
            status_code=422, content={"detail": summarize_errors(exc.errors(), prefix=("body",))}
        )
    try:
        matrix = to_matrix(body.rows, model.feature_names, settings.max_batch_rows)
        # The parsed rows are Python objects, about four times the matrix: not kept while the request waits.
        del body
        predictions, probabilities = await infer(app_state, served, matrix)
    except InputError as exc:
        return JSONResponse(status_code=422, content={"detail": [d.model_dump() for d in exc.details]})
    except ModelRejected as exc:  # the estimator rejected values the schema allowed
        detail = [{"loc": ["body", "rows"], "msg": str(exc)}]
        return JSONResponse(status_code=422, content={"detail": detail})
    version = model.ref.version
    response = PredictResponse(
        predictions=predictions,
        probabilities=probabilities,
        classes=model.classes,
        model_name=model.ref.name,
        model_version=version,
    )
    # Serialised directly: FastAPI's response_model path would validate and encode the lists again.
    return Response(content=response.model_dump_json(), media_type="application/json")


@router.get(Route.MODEL, response_model=ModelInfo, responses={503: {"model": ErrorResponse}})
async def model_info(state: StateDep) -> ModelInfo | JSONResponse:
    """Which version is served, since when, and its input signature."""
    served = state.current
    if served is None:
        return _not_ready()
    m = served.model
    return ModelInfo(
        name=m.ref.name,
        version=m.ref.version,
        alias=m.ref.alias,
        run_id=m.ref.run_id,
        registered_at=m.ref.created_at,
        loaded_at=m.loaded_at,
        feature_names=list(m.feature_names),
        classes=m.classes,
        signature=m.signature,
        drift_reference=served.drift is not None,
    )
