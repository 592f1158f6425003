"""Deprecated: the client moved to the top-level package ``forecast_client``; this module re-exports it.

``from service.client import ForecastClient`` keeps working for one release, with a DeprecationWarning.
Import from ``forecast_client`` instead (``pip install 'stock-forecast[client]'``, httpx only), where
``ValidationError`` is now :class:`forecast_client.InvalidInputError` (the old name shadowed pydantic's).
"""

from __future__ import annotations

import warnings

from forecast_client import (
    DEFAULT_MODEL,
    AsyncForecastClient,
    ConnectionFailedError,
    DeadlineExceededError,
    ErrorDetail,
    Forecast,
    ForecastClient,
    ForecastError,
    Interval,
    InvalidInputError,
    ModelInfo,
    NotFoundError,
    Prediction,
    ServerError,
    Status,
    UnauthorizedError,
    UnavailableError,
    error_from_response,
)

warnings.warn(
    "service.client is deprecated and will be removed in the next release: import from forecast_client "
    "(ValidationError is now forecast_client.InvalidInputError)",
    DeprecationWarning,
    stacklevel=2,
)

ValidationError = InvalidInputError
"""The old name of :class:`forecast_client.InvalidInputError`."""

__all__ = [
    "DEFAULT_MODEL",
    "AsyncForecastClient",
    "ConnectionFailedError",
    "DeadlineExceededError",
    "ErrorDetail",
    "Forecast",
    "ForecastClient",
    "ForecastError",
    "Interval",
    "InvalidInputError",
    "ModelInfo",
    "NotFoundError",
    "Prediction",
    "ServerError",
    "Status",
    "UnauthorizedError",
    "UnavailableError",
    "ValidationError",
    "error_from_response",
]
