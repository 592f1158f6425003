"""How /v2 says an error: the protocol's ``{"error": "message"}`` shape, 400 for any bad request.

The conversion happens in this package's route class, so the /v1 error shape stays untouched; the
body guard's 413/415 and unmatched paths keep the service-wide shape. The route class also unframes
binary tensor requests (:mod:`service.api.v2.binary`) before FastAPI parses the body.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.api.fastroute import FastRoute
from service.api.v2 import binary
from service.core.errors import ApiError, field_path
from service.dataplane.errors import (
    ClientDisconnected,
    DataPlaneError,
    DeadlineExceeded,
    InvalidInput,
    ModelNotFound,
    ModelNotReady,
    Overloaded,
    VersionNotFound,
)

_STATUS: dict[type[DataPlaneError], int] = {
    ModelNotFound: 404,
    VersionNotFound: 404,
    ModelNotReady: 503,
    InvalidInput: 400,
    DeadlineExceeded: 504,
    Overloaded: 503,
    ClientDisconnected: 499,
}


def error_json(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def bad_request(message: str) -> InvalidInput:
    """A request the codec cannot read; the message is shown whole."""
    return InvalidInput("request", "protocol", message, text=message)


class V2Route(FastRoute):
    """Answers every error of its routes in the protocol's ``{"error": "..."}`` shape (400, not 422),
    and hands FastAPI (or the fast lane) the JSON header of a binary tensor request as the body."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            try:
                if binary.is_framed(request):
                    request = await binary.json_header_request(request)
                return await handler(request)
            except Exception as exc:
                response = self.error_response(exc)
                if response is None:
                    raise
                return response

        return route_handler

    def error_response(self, exc: Exception) -> Response | None:
        if isinstance(exc, binary.FramingError):
            return error_json(400, str(exc))
        if isinstance(exc, DataPlaneError):
            headers = {"Retry-After": str(exc.retry_after_s)} if exc.retry_after_s is not None else None
            return error_json(_STATUS.get(type(exc), 500), exc.message, headers)
        if isinstance(exc, ApiError):  # the API key's 401
            return error_json(400 if exc.status == 422 else exc.status, exc.message, exc.headers)
        if isinstance(exc, RequestValidationError):
            return error_json(400, _validation_message(exc))
        if isinstance(exc, StarletteHTTPException):  # e.g. FastAPI's own 400 for a body that is not UTF-8
            detail = exc.detail if isinstance(exc.detail, str) else "bad request"
            return error_json(exc.status_code, detail, getattr(exc, "headers", None))
        return None

    def takes_fast(self, request: Request) -> bool:
        # A binary tensor request is unframed by this route class's handler first: the door leaves it here.
        return not binary.is_framed(request)


def _validation_message(exc: RequestValidationError) -> str:
    errors = list(exc.errors())
    bad_json = next((e for e in errors if e["type"] == "json_invalid"), None)
    if bad_json is not None:
        loc = bad_json.get("loc") or ()
        where = f" near character {loc[-1]}" if loc and isinstance(loc[-1], int) else ""
        return f"request body is not valid JSON{where}"
    if any(e["type"] == "model_attributes_type" and tuple(e.get("loc", ())) == ("body",) for e in errors):
        return "request body must be a JSON object"
    return "; ".join(f"{field_path(e.get('loc', ()))}: {e['msg']}" for e in errors[:3])
