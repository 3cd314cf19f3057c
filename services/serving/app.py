"""create_app(settings, loader): the serving application, with the model watcher in its lifespan."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from mlops_contract.names import Route
from services.serving.loader import MlflowLoader, ModelLoader, quiet_sklearn
from services.serving.metrics import ServingMetrics
from services.serving.middleware import ServingMiddleware
from services.serving.routes import router
from services.serving.settings import Settings
from services.serving.state import ServingState
from services.serving.watcher import watch_alias


def create_app(settings: Settings, loader: ModelLoader | None = None) -> FastAPI:
    """Build the app; the model loads in the background after startup, so liveness never waits on MLflow."""
    model_loader = loader if loader is not None else MlflowLoader(settings.tracking_uri)
    state = ServingState(drift_window=settings.drift_window)
    metrics = ServingMetrics(state)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        quiet_sklearn()
        task = asyncio.create_task(watch_alias(settings, model_loader, state, metrics), name="model-watcher")
        try:
            yield
        finally:
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


def summarize_errors(errors: Sequence[Any], limit: int = 10) -> list[dict[str, Any]]:
    """One message per location, most specific first: union branches otherwise triple every problem."""
    by_loc: dict[tuple[str | int, ...], str] = {}
    for error in errors:
        # Union branches appear in loc as type names ("float", "list[...]"); a caller only needs the path.
        loc = tuple(
            part
            for part in error.get("loc", ())
            if not (isinstance(part, str) and (part in _BRANCHES or "[" in part))
        )
        by_loc.setdefault(loc, str(error.get("msg", "invalid value")))
    # A problem inside rows[0] makes "rows[0] should be a dictionary" (the other union branch) noise.
    specific = [loc for loc in by_loc if not any(o != loc and o[: len(loc)] == loc for o in by_loc)]
    return [{"loc": list(loc), "msg": by_loc[loc]} for loc in specific[:limit]]


_BRANCHES = frozenset({"float", "int"})
