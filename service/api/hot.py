"""The hot endpoints (predict, forecast, infer): one handler each, on a plain Starlette route.

FastAPI's request handling (dependency solving, the body validated into a model, the returned model
validated and serialised again) costs about 85 µs a request more than a plain Starlette ``Route`` on the
2-core machine of BENCHMARKS.md ("2026-12-06: one request path"), more than the model itself. So each hot
endpoint takes the raw ``Request``, reads its body once (:func:`parse_body`, pydantic's
``model_validate_json`` in Rust), calls the dataplane and writes the answer with msgspec
(:func:`json_response`).

What FastAPI would otherwise give is kept on public APIs: a body that does not validate raises the very
``RequestValidationError`` (or ``HTTPException``) FastAPI raises for a body parameter, so each protocol's
error builder answers it byte for byte as before; and ``/openapi.json`` describes each hot route by an
``APIRoute`` operation built from the same models and dependencies (:func:`operation`), which is never
served: FastAPI's documented way of extending the schema (``app.openapi``, :func:`add_hot_routes`).
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import msgspec
from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Receive, Scope, Send

from service.api.deps import require_api_key
from service.dataplane import Watch

Body = TypeVar("Body", bound=BaseModel)
Handler = Callable[[Request], Awaitable[Response]]
_JSON = msgspec.json.Encoder()
_PARAM = re.compile(r"{(\w+)}")
# The app's settings FastAPI's own ``app.openapi()`` passes to ``get_openapi`` under the same names.
_SCHEMA_SETTINGS = (
    "title",
    "version",
    "openapi_version",
    "summary",
    "description",
    "terms_of_service",
    "contact",
    "license_info",
    "servers",
    "separate_input_output_schemas",
)


class HotRoute(Route):
    """A POST route with one handler. ``operation`` is how /openapi.json describes it, and ``documented_after``
    the route it is listed after (it is matched before every other route)."""

    def __init__(self, operation: APIRoute, handler: Handler) -> None:
        super().__init__(operation.path, _Endpoint(handler), methods=["POST"], name=operation.name)
        self.operation = operation
        self.documented_after: BaseRoute | None = None

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        # As FastAPI's routes do (its router does not): scope["route"] names the template the metrics
        # middleware labels requests by.
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            child_scope["route"] = self
        return match, child_scope


class _Endpoint:
    """``handler`` as an ASGI app: Starlette would wrap a function in a per-route exception handler, a
    second copy of the app's own exception middleware, which answers the handler's errors the same way."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.handler(Request(scope, receive))
        await response(scope, receive, send)


def error_responses(model: type[BaseModel], descriptions: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """A route's documented error statuses (FastAPI's ``responses``), every one in the protocol's error model."""
    return {code: {"model": model, "description": text} for code, text in descriptions.items()}


def operation(path: str, name: str, body: type[BaseModel], **doc: Any) -> APIRoute:
    """The OpenAPI operation FastAPI generates for ``async def name(body: body, <path parameters>)``
    behind the API key: the schema stays what it was when these were FastAPI routes."""
    params = [inspect.Parameter("body", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=body)]
    params += [
        inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=str) for p in _PARAM.findall(path)
    ]

    async def described(**_: Any) -> None:  # pragma: no cover - a signature, never called
        raise NotImplementedError

    described.__name__ = name
    described.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return APIRoute(path, described, methods=["POST"], name=name, dependencies=[Depends(require_api_key)], **doc)


def add_hot_routes(app: FastAPI, routes: Sequence[HotRoute]) -> None:
    """Match ``routes`` before every other route of ``app`` (FastAPI's matching of the included routers
    in front of a route costs 10-50 µs a request), list them in /openapi.json after the routes added so far,
    and describe each by its operation there."""
    for route in routes:
        route.documented_after = app.router.routes[-1]
    first = sum(isinstance(r, HotRoute) for r in app.router.routes)
    app.router.routes[first:first] = routes

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = get_openapi(
                **{name: getattr(app, name) for name in _SCHEMA_SETTINGS},
                routes=_documented(app.routes),
                webhooks=app.webhooks.routes,
                tags=app.openapi_tags,
                external_docs=app.openapi_external_docs,
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _documented(routes: Sequence[BaseRoute]) -> list[BaseRoute]:
    """``routes`` in the order /openapi.json lists them, each hot route as its operation."""
    hot = [r for r in routes if isinstance(r, HotRoute)]
    out: list[BaseRoute] = []
    for route in routes:
        if not isinstance(route, HotRoute):
            out += [route, *(h.operation for h in hot if h.documented_after is route)]
    return out


def parse_body(model: type[Body], body: bytes) -> Body:
    """``body`` as ``model``; when it is not one, the error FastAPI raises for a body parameter of
    ``model`` (same JSON decoder, same validation, same field locations), for the protocol to answer."""
    try:
        return model.model_validate_json(body)
    except ValidationError:
        pass  # the rare case: read it again the way FastAPI does, for its exact errors
    if not body:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}])
    try:
        document = json.loads(body)
    except json.JSONDecodeError as exc:
        error = {"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error", "input": {}}
        raise RequestValidationError([{**error, "ctx": {"error": exc.msg}}], body=exc.doc) from exc
    except Exception as exc:  # not UTF-8, nested too deep
        raise HTTPException(status_code=400, detail="There was an error parsing the body") from exc
    try:
        # Python-mode validation of the decoded JSON, as FastAPI does: a body it would take is taken.
        return model.model_validate(document, from_attributes=True)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors, body=document) from None


def client_gone(request: Request) -> Watch:
    """Returns once the client has disconnected: after the body, the next message the server sends
    is ``http.disconnect`` (uvicorn sends it when the connection drops). Built once the body is read."""
    receive = request.receive

    async def gone() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    return gone


def json_response(content: Any, status_code: int = 200) -> Response:
    """``content`` (dicts, lists, str, float, int, None) as a JSON response, encoded by msgspec: a tenth of
    the time of ``json.dumps`` for a float list, and no response-model validation on the way out."""
    return Response(_JSON.encode(content), status_code=status_code, media_type="application/json")
