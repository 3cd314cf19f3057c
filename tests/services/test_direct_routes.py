"""DirectRoutes: matching requests reach their endpoints without FastAPI's dispatch; the rest are untouched."""

from __future__ import annotations

from typing import Any

import fastapi.routing
import pytest
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from services.serving.direct_routes import DirectRoutes


class Full(RuntimeError):
    """An exception the app has a handler for."""


class FullerStill(Full):
    """A subclass: the base's handler answers it, as in Starlette."""


def _app() -> tuple[FastAPI, list[str]]:
    seen: list[str] = []
    router = APIRouter()

    async def fixed(request: Request) -> Response:
        seen.append(f"fixed {request.scope['route'].path}")
        if request.headers.get("x-raise") == "full":
            raise Full
        if request.headers.get("x-raise") == "fuller":
            raise FullerStill
        if request.headers.get("x-raise") == "other":
            raise KeyError("unhandled")
        return JSONResponse({"body": (await request.body()).decode()})

    async def templated(request: Request, name: str, version: str | None = None) -> Response:
        seen.append(f"templated {name} {version}")
        return JSONResponse({"name": name, "version": version})

    router.add_api_route("/predict", fixed, methods=["POST"])
    router.add_api_route("/models/{name}/infer", templated, methods=["POST"])
    router.add_api_route("/models/{name}/versions/{version}/infer", templated, methods=["POST"])

    @router.get("/other")
    async def other() -> dict[str, str]:
        seen.append("other")
        return {"via": "fastapi"}

    app = FastAPI()
    app.include_router(router)

    async def full(_request: Request, _exc: Full) -> Response:
        return JSONResponse({"detail": "busy"}, status_code=503)

    app.add_exception_handler(Full, full)  # type: ignore[arg-type]
    direct = [r for r in router.routes if isinstance(r, APIRoute) and r.path != "/other"]

    app.add_middleware(DirectRoutes, routes=direct, handlers=app.exception_handlers)
    return app, seen


def test_fixed_and_templated_routes_reach_their_endpoints_with_path_parameters() -> None:
    app, seen = _app()
    with TestClient(app) as client:
        assert client.post("/predict", content=b"abc").json() == {"body": "abc"}
        assert client.post("/models/m/infer").json() == {"name": "m", "version": None}
        assert client.post("/models/m/versions/7/infer").json() == {"name": "m", "version": "7"}
    assert seen == ["fixed /predict", "templated m None", "templated m 7"]


def test_other_methods_and_paths_go_to_fastapi() -> None:
    app, seen = _app()
    with TestClient(app) as client:
        assert client.get("/predict").status_code == 405
        assert client.post("/models/m/infer/extra").status_code == 404
        assert client.get("/other").json() == {"via": "fastapi"}
    assert seen == ["other"]


def test_an_exception_is_answered_by_the_apps_handler_or_is_a_500() -> None:
    app, _ = _app()
    with TestClient(app, raise_server_exceptions=False) as client:
        busy = client.post("/predict", headers={"x-raise": "full"})
        assert busy.status_code == 503 and busy.json() == {"detail": "busy"}
        busier = client.post("/predict", headers={"x-raise": "fuller"})
        assert busier.status_code == 503 and busier.json() == {"detail": "busy"}
        assert client.post("/predict", headers={"x-raise": "other"}).status_code == 500


def test_fastapis_dispatch_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    """The reason for the module: the endpoint runs without FastAPI's dependency solving around it."""
    app, _ = _app()
    solved: list[str] = []
    original = fastapi.routing.solve_dependencies

    async def counting(*args: Any, **kwargs: Any) -> Any:
        solved.append("solved")
        return await original(*args, **kwargs)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", counting)
    with TestClient(app) as client:
        client.post("/predict", content=b"x")
        assert solved == []
        client.get("/other")
        assert solved == ["solved"]
