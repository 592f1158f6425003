"""One JSON error shape for every 4xx/5xx the service returns.

``{"error": {"status": 422, "code": "validation_error", "message": "...", "details": [{"field": "window[3]",
"rule": "finite_number", "message": "..."}]}}``: clients can always read ``error.message`` and, for input
errors, which field broke which rule. No stack traces and no file system paths.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.core.logs import REQUEST

log = logging.getLogger("service.errors")

_RULES = {
    "finite_number": "finite_number",
    "float_type": "number",
    "int_type": "integer",
    "list_type": "array",
    "missing": "required",
    "extra_forbidden": "unknown_field",
    "greater_than": "positive",
    "less_than_equal": "max_value",
    "too_short": "min_length",
    "too_long": "max_length",
    "json_invalid": "json",
    "model_attributes_type": "object",
    "dict_type": "object",
}


class ApiError(Exception):
    """An error the API reports as-is: status, a stable code, a message, optional field details."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details, self.headers = status, code, message, details or [], headers


def error_body(status: int, code: str, message: str, details: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {"error": {"status": status, "code": code, "message": message, "details": details or []}}


def error_response(
    status: int,
    code: str,
    message: str,
    details: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(error_body(status, code, message, details), status_code=status, headers=headers)


# Branch tags of the /v1 window union (a price list or OHLC columns): not part of the client's field path.
_UNION_TAGS = frozenset({"prices", "bars"})


def field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """``("body", "windows", 2, 5)`` -> ``windows[2][5]``."""
    out = ""
    for part in loc:
        if (part == "body" and not out) or part in _UNION_TAGS:
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def _detail(err: dict[str, Any]) -> dict[str, str]:
    return {
        "field": field_path(err.get("loc", ())),
        "rule": _RULES.get(err["type"], err["type"]),
        "message": err["msg"],
    }


async def _validation_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(e["type"] == "json_invalid" for e in errors):
        bad = next(e for e in errors if e["type"] == "json_invalid")
        where = f" near character {bad['loc'][-1]}" if bad.get("loc") and isinstance(bad["loc"][-1], int) else ""
        return error_response(
            400,
            "malformed_json",
            f"request body is not valid JSON{where}",
            [{"field": "body", "rule": "json", "message": bad["msg"]}],
        )
    details = [_detail(e) for e in errors[:20]]
    message = "; ".join(f"{d['field']}: {d['message']}" for d in details[:3])
    return error_response(422, "validation_error", message, details)


async def _api_error_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)


async def _http_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    if exc.status_code == 400:
        # FastAPI's own 400 is a body it could not decode (e.g. bytes that are not UTF-8): malformed JSON too.
        detail = "request body is not valid JSON (it must be UTF-8 text)"
        return error_response(400, "malformed_json", detail, [{"field": "body", "rule": "json", "message": message}])
    return error_response(
        exc.status_code, codes.get(exc.status_code, "http_error"), message, headers=getattr(exc, "headers", None)
    )


async def _unexpected_handler(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    response = error_response(500, "internal_error", "internal error; the incident was logged")
    # This handler runs outside the request log middleware (Starlette's outermost one), so the id the
    # client can quote to find the logged incident is added here.
    request_id = (REQUEST.get() or {}).get("request_id")
    if request_id is not None:
        response.headers["x-request-id"] = request_id
    return response


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(ApiError, _api_error_handler)
    app.add_exception_handler(StarletteHTTPException, _http_handler)
    app.add_exception_handler(Exception, _unexpected_handler)
