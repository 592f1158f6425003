"""A typed Python client for the stock forecast service's /v1 API, sync and async, built on httpx alone.

    from forecast_client import ForecastClient

    with ForecastClient("http://localhost:8000", api_key="secret") as client:
        print(client.predict(window).predictions)                 # window: the model's length of prices
        print(client.forecast(window, horizon=5, model="lstm").forecast)

Install with ``pip install 'stock-forecast[client]'`` (httpx only; no FastAPI, pydantic, numpy or
onnxruntime). Errors come back as exceptions carrying the server's status, code, message and field
details (:class:`ForecastError` and its subclasses). Requests answered 503 (models still loading) and
connection failures are retried with exponential backoff, honouring the server's ``Retry-After`` up to
``max_delay``. numpy arrays work as inputs (anything with ``tolist()``), but numpy is not needed.
"""

from __future__ import annotations

from forecast_client._base import DEFAULT_MODEL
from forecast_client.async_client import AsyncForecastClient
from forecast_client.client import ForecastClient
from forecast_client.errors import (
    ConnectionFailedError,
    DeadlineExceededError,
    ErrorDetail,
    ForecastError,
    InvalidInputError,
    NotFoundError,
    ServerError,
    UnauthorizedError,
    UnavailableError,
    error_from_response,
)
from forecast_client.models import Forecast, Interval, ModelInfo, Prediction, Status

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
    "error_from_response",
]
