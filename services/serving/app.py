"""create_app(settings, loader): the serving application, with the model watcher in its lifespan."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute, APIRouter
from starlette.exceptions import HTTPException

from mlops_contract.names import Route
from services.serving.admission import RETRY_AFTER_SECONDS, Admission, AdmissionLimits, ShedReason
from services.serving.batching import Batcher, Overloaded
from services.serving.direct_routes import DirectRoutes
from services.serving.errors import summarize_errors
from services.serving.feedback import router as feedback_router
from services.serving.front import ServingApp
from services.serving.inference_log import build_inference_log
from services.serving.loader import ModelLoader, quiet_sklearn
from services.serving.metrics import ServingMetrics
from services.serving.middleware import ServingMiddleware
from services.serving.openapi import install as install_openapi
from services.serving.protocols import kserve_v1, mlflow_scoring, oip_v2
from services.serving.routes import predict, router
from services.serving.settings import Settings
from services.serving.state import ServingState
from services.serving.turns import PARSE_TURN_BYTES, Turns
from services.serving.watcher import watch_alias


def create_app(settings: Settings, loader: ModelLoader) -> ServingApp:
    """Build the app; the model loads in the background after startup, so liveness never waits on MLflow."""
    state = ServingState(drift_window=settings.drift_window)
    metrics = ServingMetrics(state)
    batcher = Batcher(max_rows=settings.max_batch_rows, max_queued_rows=settings.max_queued_rows)
    inference_log = build_inference_log(settings, metrics)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        quiet_sklearn()
        batcher.start()
        if inference_log is not None:
            inference_log.start()
        task = asyncio.create_task(watch_alias(settings, loader, state, metrics), name="model-watcher")
        try:
            yield
        finally:
            await batcher.stop()
            if inference_log is not None:
                await asyncio.to_thread(inference_log.stop)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app = ServingApp(
        title="mlops-platform serving",
        summary=f"Serves {settings.model_name}@{settings.model_alias} from the MLflow registry.",
        version="1",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.serving = state
    app.state.metrics = metrics
    app.state.batcher = batcher
    app.state.parse_turns = Turns(min_size=PARSE_TURN_BYTES)
    app.state.inference_log = inference_log
    routers = [router, *(protocol.router for protocol in (mlflow_scoring, oip_v2, kserve_v1))]
    for included in routers:
        app.include_router(included)
    install_openapi(app)
    app.include_router(feedback_router)
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Overloaded, _overloaded(metrics))  # type: ignore[arg-type]
    # In front of FastAPI's own layers (services/serving/front.py), innermost first. Prediction requests reach
    # DirectRoutes admitted, their bodies read, and are answered there (services/serving/direct_routes.py).
    app.add_front(DirectRoutes, routes=_prediction_routes(routers), handlers=app.exception_handlers)
    # Inside ServingMiddleware: its refusals are counted and logged like any answer.
    app.add_front(
        Admission,
        limits=admission_limits(settings),
        shed=metrics.shed,
        exempt=[Route.HEALTHZ, Route.READYZ, Route.METRICS],
        # MLflow's scoring protocol takes CSV too; every other body is JSON.
        media_types={mlflow_scoring.INVOCATIONS: frozenset({"application/json", mlflow_scoring.CSV})},
    )
    app.add_front(
        ServingMiddleware,
        metrics=metrics,
        routes=[str(r) for r in Route] + ["/docs", "/openapi.json"],
    )
    return app


_PREDICTION_ENDPOINTS = (predict, mlflow_scoring.invocations, oip_v2.infer_route, kserve_v1.predict)


def _prediction_routes(routers: Iterable[APIRouter]) -> list[APIRoute]:
    """The five routes of the four prediction endpoints (V2 infer has two paths); routers are unprefixed."""
    routes = [r for router in routers for r in router.routes]
    found = [r for r in routes if isinstance(r, APIRoute) and r.endpoint in _PREDICTION_ENDPOINTS]
    assert len(found) == 5, [r.path for r in found]
    return found


def admission_limits(settings: Settings) -> AdmissionLimits:
    """The admission part of the settings."""
    return AdmissionLimits(
        max_in_flight=settings.max_in_flight,
        max_body_bytes=settings.max_body_bytes,
        max_buffered_bytes=settings.max_buffered_bytes,
        body_timeout_seconds=settings.body_timeout_seconds,
    )


def _overloaded(metrics: ServingMetrics) -> Callable[[Request, Overloaded], Awaitable[JSONResponse]]:
    async def handler(_request: Request, _exc: Overloaded) -> JSONResponse:
        """503 + Retry-After when the prediction queue is full (any route that uses the batcher)."""
        metrics.shed.labels(ShedReason.QUEUED_ROWS).inc()
        return JSONResponse(
            status_code=503,
            content={"detail": "server busy, retry later"},
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    return handler


async def _http_error(request: Request, exc: HTTPException) -> Response:
    """FastAPI answers 400 when a JSON body is not UTF-8 (json.loads raises UnicodeDecodeError, not
    JSONDecodeError). JSON text is UTF-8 (RFC 8259), so that body is invalid JSON: the same 422 as any other
    JSON syntax error, which the OpenAPI schema documents. Every other HTTP error keeps FastAPI's answer."""
    if isinstance(exc.__cause__, UnicodeDecodeError):
        detail = [{"loc": ["body"], "msg": "JSON decode error: the body is not UTF-8"}]
        return JSONResponse(status_code=422, content={"detail": detail})
    return await http_exception_handler(request, exc)


async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 naming the field; the submitted values are never echoed back (they may be sensitive or huge)."""
    return JSONResponse(status_code=422, content={"detail": summarize_errors(exc.errors())})
