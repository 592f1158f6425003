"""How /v1 says a dataplane error: the service-wide ``{"error": {status, code, message, details}}`` shape."""

from __future__ import annotations

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from service.api.fastroute import FastRoute
from service.core.errors import ApiError, error_response
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

_STATUS: dict[type[DataPlaneError], tuple[int, str]] = {
    ModelNotFound: (404, "unknown_model"),
    VersionNotFound: (404, "unknown_version"),
    ModelNotReady: (503, "model_unavailable"),
    InvalidInput: (422, "validation_error"),
    DeadlineExceeded: (504, "deadline_exceeded"),
    Overloaded: (503, "overloaded"),
    ClientDisconnected: (499, "client_disconnected"),
}


def to_response(exc: DataPlaneError) -> JSONResponse:
    status, code = _STATUS.get(type(exc), (500, "internal_error"))
    details = [{"field": exc.field, "rule": exc.rule, "message": exc.hint}] if isinstance(exc, InvalidInput) else None
    headers = {"Retry-After": str(exc.retry_after_s)} if exc.retry_after_s is not None else None
    return error_response(status, code, exc.message, details, headers)


async def _handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DataPlaneError)
    return to_response(exc)


def install_dataplane_errors(app: FastAPI) -> None:
    """Dataplane errors escaping any route in the /v1 shape (/v2's route class answers its own first)."""
    app.add_exception_handler(DataPlaneError, _handler)


class V1Route(FastRoute):
    """/v1's route class: the fast lanes, and for the door the same answers the app's handlers give."""

    def error_response(self, exc: Exception) -> Response | None:
        if isinstance(exc, DataPlaneError):
            return to_response(exc)
        if isinstance(exc, ApiError):
            return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)
        return None
