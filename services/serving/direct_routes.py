"""The prediction routes called straight from the middleware stack, past FastAPI's per-request machinery.

FastAPI still declares these routes (OpenAPI, /docs, 405 for other methods); only the dispatch of a matching
request is short-cut. Their endpoints take the Request (and str path parameters) and return a Response, so
FastAPI's per-request work for them (nested router matching, dependency solving, an exit stack, a second
exception wrapper) produced nothing: measured, it was a quarter of the event loop's time for a 1-row
request, more than parsing and predicting it. An exception the endpoint raises is answered by the app's own
exception handler for its type, as FastAPI would; any other is answered 500, as Starlette's server-error
layer does (it may not be around: services/serving/front.py), and raised on for the server to log.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

Handler = Callable[[Request, Any], Response | Awaitable[Response]]
MATCHED_PATHS = 256
"""Templated paths remembered with their route and parameters."""


class DirectRoutes:
    """ASGI middleware: requests for `routes` go straight to their endpoints; everything else to the app."""

    def __init__(
        self, app: ASGIApp, routes: Iterable[APIRoute], handlers: Mapping[Any, Handler] | None = None
    ) -> None:
        self.app = app
        self.handlers = handlers if handlers is not None else {}
        self._fixed: dict[tuple[str, str], APIRoute] = {}
        self._templated: list[tuple[str, APIRoute]] = []
        # Templated paths seen before (clients repeat their model's path): a regex match and conversion cost
        # as much as parsing a 1-row request. Bounded, so scanners cannot grow it.
        self._matched: dict[tuple[str, str], tuple[APIRoute, dict[str, Any]]] = {}
        for route in routes:
            for method in route.methods or ():
                if route.param_convertors:
                    self._templated.append((method, route))
                else:
                    self._fixed[(method, route.path)] = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route, params = self._match(scope) if scope["type"] == "http" else (None, {})
        if route is None:
            await self.app(scope, receive, send)
            return
        # What FastAPI's router would have put in the scope (the route labels metrics).
        scope["route"] = route
        scope["path_params"] = params
        request = Request(scope, receive, send)
        try:
            response = await route.endpoint(request, **params)
        except Exception as exc:
            handler = self._handler(exc)
            if handler is None:
                await PlainTextResponse("Internal Server Error", status_code=500)(scope, receive, send)
                raise
            answer = handler(request, exc)
            response = await answer if inspect.isawaitable(answer) else answer
        await response(scope, receive, send)

    def _handler(self, exc: Exception) -> Handler | None:
        """The handler for exc's class or its nearest base, as Starlette looks one up."""
        for cls in type(exc).__mro__:
            if cls in self.handlers:
                return self.handlers[cls]
        return None

    def _match(self, scope: Scope) -> tuple[APIRoute | None, dict[str, Any]]:
        method, path = scope["method"], scope["path"]
        fixed = self._fixed.get((method, path))
        if fixed is not None:
            return fixed, {}
        seen = self._matched.get((method, path))
        if seen is not None:
            return seen[0], dict(seen[1])  # a copy: the endpoint may keep or change its parameters
        for wanted, route in self._templated:
            match = route.path_regex.match(path) if method == wanted else None
            if match is not None:
                convertors = route.param_convertors
                params = {k: convertors[k].convert(v) for k, v in match.groupdict().items()}
                if len(self._matched) < MATCHED_PATHS:
                    self._matched[(method, path)] = (route, dict(params))
                return route, params
        return None, {}
