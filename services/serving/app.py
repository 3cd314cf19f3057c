"""create_app(settings, loader): the serving application, with the model watcher in its lifespan."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from mlops_contract.names import Route
from services.serving.batching import Batcher
from services.serving.errors import summarize_errors
from services.serving.loader import ModelLoader, quiet_sklearn
from services.serving.metrics import ServingMetrics
from services.serving.middleware import ServingMiddleware
from services.serving.routes import router
from services.serving.settings import Settings
from services.serving.state import ServingState
from services.serving.watcher import watch_alias


def create_app(settings: Settings, loader: ModelLoader) -> FastAPI:
    """Build the app; the model loads in the background after startup, so liveness never waits on MLflow."""
    state = ServingState(drift_window=settings.drift_window)
    metrics = ServingMetrics(state)
    batcher = Batcher(max_rows=settings.max_batch_rows)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        quiet_sklearn()
        batcher.start()
        task = asyncio.create_task(watch_alias(settings, loader, state, metrics), name="model-watcher")
        try:
            yield
        finally:
            await batcher.stop()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app = FastAPI(
        title="mlops-platform serving",
        summary=f"Serves {settings.model_name}@{settings.model_alias} from the MLflow registry.",
        version="1",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.serving = state
    app.state.metrics = metrics
    app.state.batcher = batcher
    app.include_router(router)
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_middleware(
        ServingMiddleware,
        metrics=metrics,
        routes=[str(r) for r in Route] + ["/docs", "/openapi.json"],
        max_body_bytes=settings.max_body_bytes,
    )
    return app


async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 naming the field; the submitted values are never echoed back (they may be sensitive or huge)."""
    return JSONResponse(status_code=422, content={"detail": summarize_errors(exc.errors())})
