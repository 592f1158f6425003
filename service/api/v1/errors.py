"""How /v1 says a dataplane error: the service-wide ``{"error": {status, code, message, details}}`` shape
(built by :func:`service.core.errors.error_response`, like every other /v1 error)."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from service.core.errors import error_response
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
