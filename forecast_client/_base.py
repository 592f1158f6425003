"""What the sync and async clients share: settings, the retry policy and the request builders."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from forecast_client.models import as_values

DEFAULT_MODEL = "ensemble"
RETRY_STATUSES = frozenset({503})
# Failures where the request never reached the application (or the server went away mid-restart):
# safe to retry, since predictions and forecasts have no side effects. Read timeouts are not retried.
RETRY_EXCEPTIONS: tuple[type[httpx.TransportError], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
)


def quote_name(model: str) -> str:
    """A model name as one path segment."""
    return quote(model, safe="")


def _is_batch(data: Any) -> bool:
    return isinstance(data, list) and bool(data) and isinstance(data[0], list)


@dataclass(frozen=True)
class Call:
    """One API call: method, path, JSON body, the statuses that are answers, and whether a 503 is retried."""

    method: str
    path: str
    body: dict[str, Any] | None = None
    ok: frozenset[int] = frozenset({200})
    retry: bool = True


MODELS = Call("GET", "/v1/models")
HEALTH = Call("GET", "/healthz")
READY = Call("GET", "/readyz", ok=frozenset({200, 503}), retry=False)


def model_call(name: str) -> Call:
    return Call("GET", f"/v1/models/{quote_name(name)}")


def predict_call(window: Any, windows: Any, model: str, intervals: Sequence[int] | None) -> Call:
    """``POST /v1/models/{model}/predict``: one window (a 2-D input counts as a batch) or ``windows``."""
    if (window is None) == (windows is None):
        raise TypeError("give exactly one of window or windows")
    body: dict[str, Any]
    if window is not None:
        values = as_values(window)
        body = {"windows": values} if _is_batch(values) else {"window": values}
    else:
        body = {"windows": as_values(windows)}
    if intervals is not None:
        body["intervals"] = as_values(intervals)
    return Call("POST", f"/v1/models/{quote_name(model)}/predict", body)


def forecast_call(window: Any, horizon: int, model: str, intervals: Sequence[int] | None) -> Call:
    """``POST /v1/models/{model}/forecast``; ``intervals`` only when given."""
    body: dict[str, Any] = {"window": as_values(window), "horizon": horizon}
    if intervals is not None:
        body["intervals"] = as_values(intervals)
    return Call("POST", f"/v1/models/{quote_name(model)}/forecast", body)


TIMESERIES_PATH = "/v1/timeseries/forecast"


def timeseries_call(
    series: Mapping[str, Any],
    horizon: int,
    model: str,
    quantiles: Sequence[float] | None,
    calibration: str | None,
    start_timestamps: Mapping[str, str] | None,
) -> Call:
    """``POST /v1/timeseries/forecast`` (KServe's time-series protocol): one input per named history, a list
    of prices or of rows (one per session, one value per variable), daily; options only when given."""
    inputs = []
    for name, history in series.items():
        values = as_values(history)
        kind = "multivariate_time_series" if _is_batch(values) else "univariate_time_series"
        item: dict[str, Any] = {"type": kind, "name": name, "series": values, "frequency": "D"}
        if start_timestamps is not None and name in start_timestamps:
            item["start_timestamp"] = start_timestamps[name]
        inputs.append(item)
    options: dict[str, Any] = {"horizon": horizon}
    if quantiles is not None:
        options["quantiles"] = as_values(quantiles)
    if calibration is not None:
        options["calibration"] = calibration
    return Call("POST", TIMESERIES_PATH, {"model": model, "inputs": inputs, "options": options})


class BaseClient:
    """Settings and retry policy common to :class:`ForecastClient` and :class:`AsyncForecastClient`."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None,
        timeout: float | httpx.Timeout,
        retries: int,
        backoff: float,
        max_delay: float,
        jitter: float,
        headers: dict[str, str] | None,
    ) -> None:
        if retries < 0:
            raise ValueError("retries must be >= 0")
        self.base_url = base_url.rstrip("/")
        self.retries, self.backoff, self.max_delay, self.jitter = retries, backoff, max_delay, jitter
        self.timeout = timeout
        self.headers = {"Accept": "application/json", **(headers or {})}
        if api_key is not None:
            self.headers["X-API-Key"] = api_key

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based): Retry-After if given, else exponential."""
        if retry_after is not None:
            return min(retry_after, self.max_delay)
        base = min(self.backoff * 2**attempt, self.max_delay)
        return base * (1 + random.uniform(0, self.jitter)) if self.jitter else base

    @staticmethod
    def request_kwargs(call: Call) -> dict[str, Any]:
        if call.body is None:
            return {}
        # json.dumps lets NaN/Infinity through so the server names the offending field in its 422.
        return {"content": json.dumps(call.body).encode(), "headers": {"Content-Type": "application/json"}}
