"""The serving's layers run in front of FastAPI's: predictions skip FastAPI's stack, nothing else changes."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.middleware.errors import ServerErrorMiddleware

from services.serving.front import ServingApp
from tests.services.conftest import MemoryLoader, in_distribution_rows, scrape, wait_for


@pytest.fixture
def entered(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Paths of the requests that entered FastAPI's own outermost layer."""
    seen: list[str] = []
    original = ServerErrorMiddleware.__call__

    async def counting(self: ServerErrorMiddleware, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            seen.append(scope["path"])
        await original(self, scope, receive, send)

    monkeypatch.setattr(ServerErrorMiddleware, "__call__", counting)
    return seen


def test_predictions_are_answered_in_front_of_fastapis_stack(
    client_factory, loader: MemoryLoader, tiny_model, entered: list[str]
) -> None:
    client = client_factory(loader)
    wait_for(lambda: client.get("/readyz").status_code == 200)
    entered.clear()
    rows = in_distribution_rows(tiny_model, 2)
    answer = client.post("/v1/predict", json={"rows": rows})
    assert answer.status_code == 200 and len(answer.json()["predictions"]) == 2
    assert len(answer.headers["x-request-id"]) == 32
    assert entered == []  # answered in front
    assert client.get("/healthz").status_code == 200
    assert client.get("/v1/predict").status_code == 405  # FastAPI's refusal, from FastAPI's stack
    assert client.get("/scan/me").status_code == 404
    assert entered == ["/healthz", "/v1/predict", "/scan/me"]
    text = scrape(client)
    assert 'route="/v1/predict",status="200"} 1.0' in text
    assert 'route="/v1/predict",status="405"} 1.0' in text
    assert 'route="other",status="404"} 1.0' in text


def test_an_unhandled_error_in_front_is_a_counted_500_with_a_request_id(
    client_factory, loader: MemoryLoader, tiny_model, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Starlette's server-error layer is not around a prediction: DirectRoutes answers as it would."""
    client = client_factory(loader)
    wait_for(lambda: client.get("/readyz").status_code == 200)

    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr("services.serving.routes.infer", broken)
    with pytest.raises(RuntimeError, match="a bug"):  # raised on, for the server to log
        client.post("/v1/predict", json={"rows": in_distribution_rows(tiny_model, 1)})
    quiet = TestClient(client.app, raise_server_exceptions=False)
    answer = quiet.post("/v1/predict", json={"rows": in_distribution_rows(tiny_model, 1)})
    assert answer.status_code == 500 and answer.text == "Internal Server Error"
    assert len(answer.headers["x-request-id"]) == 32
    assert 'route="/v1/predict",status="500"} 2.0' in scrape(client)


def test_front_layers_wrap_in_order_and_not_after_start() -> None:
    calls: list[str] = []

    def layer(name: str) -> type:
        class Layer:
            def __init__(self, app: Any) -> None:
                self.app = app

            async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
                calls.append(name)
                await self.app(scope, receive, send)

        return Layer

    app = ServingApp()

    @app.get("/x")
    async def x() -> dict[str, str]:
        return {"ok": "yes"}

    app.add_front(layer("inner"))
    app.add_front(layer("outer"))
    with TestClient(app) as client:
        assert client.get("/x").json() == {"ok": "yes"}
        assert calls == ["outer", "inner"]
        with pytest.raises(RuntimeError, match="after the app has started"):
            app.add_front(layer("late"))
