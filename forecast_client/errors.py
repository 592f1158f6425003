"""The client's exceptions, one per kind of failure, and the mapping from an HTTP error response to them."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

__all__ = [
    "ConnectionFailedError",
    "DeadlineExceededError",
    "ErrorDetail",
    "ForecastError",
    "InvalidInputError",
    "NotFoundError",
    "ServerError",
    "UnauthorizedError",
    "UnavailableError",
    "error_from_response",
]


@dataclass(frozen=True)
class ErrorDetail:
    """One broken rule of a refused request: the field (``window[3]``), the rule's name and a message."""

    field: str
    rule: str
    message: str


class ForecastError(Exception):
    """The server refused a request (or could not be reached: ``status`` None)."""

    def __init__(
        self,
        status: int | None,
        code: str,
        message: str,
        details: Sequence[ErrorDetail] = (),
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}" if status is not None else f"{code}: {message}")
        self.status, self.code, self.message = status, code, message
        self.details: list[ErrorDetail] = list(details)
        self.retry_after = retry_after


class InvalidInputError(ForecastError):
    """400/413/415/422: the request was malformed or broke a rule; ``details`` name the field and rule."""


class UnauthorizedError(ForecastError):
    """401: missing or wrong API key."""


class NotFoundError(ForecastError):
    """404: unknown model (or path)."""


class UnavailableError(ForecastError):
    """503: the model is not loaded (yet), after every retry."""


class ServerError(ForecastError):
    """Any other 5xx."""


class DeadlineExceededError(ServerError):
    """504: a forecast ran past the server's time limit (ask for a shorter horizon)."""


class ConnectionFailedError(ForecastError):
    """The server could not be reached or the request timed out (after every retry that applies)."""


_BY_STATUS: dict[int, type[ForecastError]] = {
    400: InvalidInputError,
    401: UnauthorizedError,
    404: NotFoundError,
    413: InvalidInputError,
    415: InvalidInputError,
    422: InvalidInputError,
    503: UnavailableError,
    504: DeadlineExceededError,
}


def retry_after(response: httpx.Response) -> float | None:
    """The response's ``Retry-After`` in seconds (delta-seconds or an HTTP date), None when absent or unreadable."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def error_from_response(response: httpx.Response) -> ForecastError:
    """Map an error response (the /v1 shape, the /v2 ``{"error": "..."}`` shape or plain text) to an exception."""
    status = response.status_code
    code, message, details = "http_error", response.reason_phrase or f"HTTP {status}", []
    try:
        body = response.json()
    except ValueError:
        body = None
        if response.text.strip():
            message = response.text.strip()[:500]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code = str(error.get("code", code))
        message = str(error.get("message", message))
        details = [
            ErrorDetail(str(d.get("field", "")), str(d.get("rule", "")), str(d.get("message", "")))
            for d in error.get("details") or []
            if isinstance(d, dict)
        ]
    elif isinstance(error, str):
        message = error
    elif isinstance(body, dict) and isinstance(body.get("detail"), str):
        message = body["detail"]
    cls = _BY_STATUS.get(status, ServerError if status >= 500 else ForecastError)
    return cls(status, code, message, details, retry_after(response))


def connection_error(exc: httpx.TransportError) -> ConnectionFailedError:
    """The exception for a request that got no answer: ``code`` is ``timeout`` or ``connection_error``."""
    code = "timeout" if isinstance(exc, httpx.TimeoutException) else "connection_error"
    return ConnectionFailedError(None, code, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
