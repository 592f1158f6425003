"""How /v2 says an error: the protocol's ``{"error": "message"}`` shape, 400 for any bad request.

Every /v2 error body is built here (:func:`error_json`): the infer handler's (:func:`to_response`), a
dataplane error from the metadata routes (service/api/errors.py) and the body guard's duplicate key;
the body guard's 413/415 and unmatched paths keep the service-wide shape.
"""

from __future__ import annotations

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.api.v2.binary import FramingError
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


def dataplane_response(exc: DataPlaneError) -> JSONResponse:
    headers = {"Retry-After": str(exc.retry_after_s)} if exc.retry_after_s is not None else None
    return error_json(_STATUS.get(type(exc), 500), exc.message, headers)


def to_response(exc: Exception) -> JSONResponse | None:
    """How /v2 answers ``exc`` raised while handling an infer request (None: an unexpected error, left to
    the app's logged 500)."""
    if isinstance(exc, FramingError):
        return error_json(400, str(exc))
    if isinstance(exc, DataPlaneError):
        return dataplane_response(exc)
    if isinstance(exc, ApiError):  # the API key's 401
        return error_json(400 if exc.status == 422 else exc.status, exc.message, exc.headers)
    if isinstance(exc, RequestValidationError):
        return error_json(400, _validation_message(exc))
    if isinstance(exc, StarletteHTTPException):  # a body that is not UTF-8 (service/api/hot.py)
        detail = exc.detail if isinstance(exc.detail, str) else "bad request"
        return error_json(exc.status_code, detail, getattr(exc, "headers", None))
    return None


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
