"""A typed Python client for the forecast service's /v1 API, sync and async, built on httpx alone.

    from service.client import ForecastClient

    with ForecastClient("http://localhost:8000", api_key="secret") as client:
        print(client.predict([150.1, 150.3, ...]).predictions)            # one window (the model's length)
        print(client.forecast([150.1, 150.3, ...], horizon=5, model="lstm").forecast)

Errors come back as exceptions carrying the server's status, code, message and field details
(:class:`ForecastError` and its subclasses). Requests answered 503 (models still loading) and connection
failures are retried with exponential backoff, honouring the server's ``Retry-After`` up to ``max_delay``.

Only httpx is imported: numpy arrays work as inputs (anything with ``tolist()``), but numpy is not needed.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeAlias
from urllib.parse import quote

import httpx

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
    "ModelInfo",
    "NotFoundError",
    "Prediction",
    "ServerError",
    "Status",
    "UnauthorizedError",
    "UnavailableError",
    "ValidationError",
]

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


class _ArrayLike(Protocol):
    def tolist(self) -> Any: ...


WindowLike: TypeAlias = Sequence[float] | _ArrayLike
BatchLike: TypeAlias = Sequence[Sequence[float]] | _ArrayLike


# --- results ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    """A central prediction interval: ``level`` percent nominal coverage, bounds per window or per step."""

    level: int
    lower: list[float]
    upper: list[float]


def _intervals(data: Any) -> list[Interval] | None:
    if not data:
        return None
    return [Interval(int(i["level"]), list(i["lower"]), list(i["upper"])) for i in data]


@dataclass(frozen=True)
class Prediction:
    """The next value after each window, in price units; ``intervals`` only when asked for."""

    model: str
    version: str
    predictions: list[float]
    warnings: list[str] = field(default_factory=list)
    intervals: list[Interval] | None = None


@dataclass(frozen=True)
class Forecast:
    """A recursive multi-step forecast, in price units; ``intervals`` (bounds per step) only when asked for."""

    model: str
    version: str
    horizon: int
    forecast: list[float]
    warnings: list[str] = field(default_factory=list)
    intervals: list[Interval] | None = None


@dataclass(frozen=True)
class ModelInfo:
    """One served model's metadata (``GET /v1/models/{name}``); ``raw`` keeps every field the server sent."""

    name: str
    version: str
    description: str
    backend: str
    window: int
    ready: bool
    trained_at: str
    target_column: str
    parameters: int
    members: list[str] = field(default_factory=list)
    recipe: str | None = None
    test_metrics: dict[str, float] | None = None
    sequence_rmse: float | None = None
    error: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelInfo:
        return cls(
            name=str(data["name"]),
            version=str(data.get("version", "")),
            description=str(data.get("description", "")),
            backend=str(data.get("backend", "")),
            window=int(data["window"]),
            ready=bool(data.get("ready", False)),
            trained_at=str(data.get("trained_at", "")),
            target_column=str(data.get("target_column", "")),
            parameters=int(data.get("parameters", 0)),
            members=list(data.get("members") or []),
            recipe=data.get("recipe"),
            test_metrics=data.get("test_metrics"),
            sequence_rmse=data.get("sequence_rmse"),
            error=data.get("error"),
            raw=data,
        )


@dataclass(frozen=True)
class Status:
    """A probe's answer: ``/healthz`` (``alive``) or ``/readyz`` (``ready``, ``loading`` or ``failed``)."""

    status: str
    reason: str | None = None
    models: dict[str, str] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return self.status == "ready"


# --- errors -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ErrorDetail:
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


class ValidationError(ForecastError):
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
    400: ValidationError,
    401: UnauthorizedError,
    404: NotFoundError,
    413: ValidationError,
    415: ValidationError,
    422: ValidationError,
    503: UnavailableError,
    504: DeadlineExceededError,
}


def _retry_after(response: httpx.Response) -> float | None:
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
    return cls(status, code, message, details, _retry_after(response))


def _values(data: Any) -> Any:
    """Plain lists of Python numbers for JSON (numpy arrays and scalars included); the server validates them."""
    if hasattr(data, "tolist"):
        return data.tolist()
    if isinstance(data, str | bytes) or not isinstance(data, Sequence):
        return data
    return [_values(v) for v in data]


def _name(model: str) -> str:
    return quote(model, safe="")


def _is_batch(data: Any) -> bool:
    return isinstance(data, list) and bool(data) and isinstance(data[0], list)


# --- the shared request logic -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Call:
    method: str
    path: str
    body: dict[str, Any] | None = None
    ok: frozenset[int] = frozenset({200})
    retry: bool = True


class _Base:
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
    def request_kwargs(call: _Call) -> dict[str, Any]:
        if call.body is None:
            return {}
        # json.dumps lets NaN/Infinity through so the server names the offending field in its 422.
        return {"content": json.dumps(call.body).encode(), "headers": {"Content-Type": "application/json"}}

    @staticmethod
    def connection_error(exc: httpx.TransportError) -> ConnectionFailedError:
        code = "timeout" if isinstance(exc, httpx.TimeoutException) else "connection_error"
        return ConnectionFailedError(None, code, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)

    # Request builders: (call, parse) pairs used by both clients.

    @staticmethod
    def predict_call(window: Any, windows: Any, model: str, intervals: Sequence[int] | None) -> _Call:
        if (window is None) == (windows is None):
            raise TypeError("give exactly one of window or windows")
        body: dict[str, Any]
        if window is not None:
            values = _values(window)
            body = {"windows": values} if _is_batch(values) else {"window": values}
        else:
            body = {"windows": _values(windows)}
        if intervals is not None:
            body["intervals"] = _values(intervals)
        return _Call("POST", f"/v1/models/{_name(model)}/predict", body)

    @staticmethod
    def forecast_call(window: Any, horizon: int, model: str, intervals: Sequence[int] | None) -> _Call:
        body: dict[str, Any] = {"window": _values(window), "horizon": horizon}
        if intervals is not None:
            body["intervals"] = _values(intervals)
        return _Call("POST", f"/v1/models/{_name(model)}/forecast", body)

    @staticmethod
    def parse_prediction(data: dict[str, Any]) -> Prediction:
        return Prediction(
            model=data["model"],
            version=data["version"],
            predictions=list(data["predictions"]),
            warnings=list(data.get("warnings") or []),
            intervals=_intervals(data.get("intervals")),
        )

    @staticmethod
    def parse_forecast(data: dict[str, Any]) -> Forecast:
        return Forecast(
            model=data["model"],
            version=data["version"],
            horizon=int(data.get("horizon", len(data["forecast"]))),
            forecast=list(data["forecast"]),
            warnings=list(data.get("warnings") or []),
            intervals=_intervals(data.get("intervals")),
        )

    @staticmethod
    def parse_status(data: dict[str, Any]) -> Status:
        return Status(str(data.get("status", "unknown")), data.get("reason"), dict(data.get("models") or {}))


_MODELS = _Call("GET", "/v1/models")
_HEALTH = _Call("GET", "/healthz")
_READY = _Call("GET", "/readyz", ok=frozenset({200, 503}), retry=False)


class ForecastClient(_Base):
    """Synchronous client. Use as a context manager, or call :meth:`close`.

    ``retries``: how many times a 503 or a connection failure is retried (0: never); the wait doubles from
    ``backoff`` seconds, or is the server's ``Retry-After``, and never exceeds ``max_delay``.
    """

    def __init__(
        self,
        base_url: str = "http://localhost:8000",
        *,
        api_key: str | None = None,
        timeout: float | httpx.Timeout = 10.0,
        retries: int = 3,
        backoff: float = 0.25,
        max_delay: float = 10.0,
        jitter: float = 0.1,
        headers: dict[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(
            base_url,
            api_key=api_key,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            max_delay=max_delay,
            jitter=jitter,
            headers=headers,
        )
        self._sleep = sleep
        self._http = httpx.Client(base_url=self.base_url, headers=self.headers, timeout=timeout, transport=transport)

    def __enter__(self) -> ForecastClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, call: _Call) -> Any:
        attempts = self.retries + 1 if call.retry else 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response = self._http.request(call.method, call.path, **self.request_kwargs(call))
            except RETRY_EXCEPTIONS as exc:
                if last:
                    raise self.connection_error(exc) from exc
                self._sleep(self.delay(attempt, None))
                continue
            except httpx.TransportError as exc:
                raise self.connection_error(exc) from exc
            if response.status_code in call.ok:
                return response.json()
            error = error_from_response(response)
            if response.status_code not in RETRY_STATUSES or last:
                raise error
            self._sleep(self.delay(attempt, error.retry_after))
        raise AssertionError("unreachable")  # pragma: no cover

    def predict(
        self,
        window: WindowLike | BatchLike | None = None,
        *,
        windows: BatchLike | None = None,
        model: str = DEFAULT_MODEL,
        intervals: Sequence[int] | None = None,
    ) -> Prediction:
        """Next value after ``window`` (one series; a 2-D input counts as a batch) or each of ``windows``.

        ``intervals``: prediction-interval levels in percent (e.g. ``[80, 95]``), sent only when given.
        """
        return self.parse_prediction(self._send(self.predict_call(window, windows, model, intervals)))

    def forecast(
        self, window: WindowLike, horizon: int, *, model: str = DEFAULT_MODEL, intervals: Sequence[int] | None = None
    ) -> Forecast:
        """Recursive ``horizon``-step forecast; ``intervals`` (levels in percent) is sent only when given."""
        return self.parse_forecast(self._send(self.forecast_call(window, horizon, model, intervals)))

    def models(self) -> list[ModelInfo]:
        return [ModelInfo.from_json(m) for m in self._send(_MODELS)["models"]]

    def model(self, name: str) -> ModelInfo:
        return ModelInfo.from_json(self._send(_Call("GET", f"/v1/models/{_name(name)}")))

    def health(self) -> Status:
        return self.parse_status(self._send(_HEALTH))

    def ready(self) -> Status:
        """The readiness probe's answer; a server still loading is not an error here (``.ready`` is False)."""
        return self.parse_status(self._send(_READY))

    def wait_until_ready(self, timeout: float = 60.0, interval: float = 0.5) -> Status:
        """Poll :meth:`ready` (connection failures included) until ready; :class:`UnavailableError` on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                status = self.ready()
            except ConnectionFailedError:
                status = Status("unreachable")
            if status.ready:
                return status
            if time.monotonic() >= deadline:
                raise UnavailableError(
                    None, "not_ready", f"not ready after {timeout:g} s: {status.reason or status.status}"
                )
            self._sleep(interval)


class AsyncForecastClient(_Base):
    """The asyncio twin of :class:`ForecastClient`: the same methods, awaited."""

    def __init__(
        self,
        base_url: str = "http://localhost:8000",
        *,
        api_key: str | None = None,
        timeout: float | httpx.Timeout = 10.0,
        retries: int = 3,
        backoff: float = 0.25,
        max_delay: float = 10.0,
        jitter: float = 0.1,
        headers: dict[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        super().__init__(
            base_url,
            api_key=api_key,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            max_delay=max_delay,
            jitter=jitter,
            headers=headers,
        )
        self._sleep = sleep
        self._http = httpx.AsyncClient(
            base_url=self.base_url, headers=self.headers, timeout=timeout, transport=transport
        )

    async def __aenter__(self) -> AsyncForecastClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, call: _Call) -> Any:
        attempts = self.retries + 1 if call.retry else 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response = await self._http.request(call.method, call.path, **self.request_kwargs(call))
            except RETRY_EXCEPTIONS as exc:
                if last:
                    raise self.connection_error(exc) from exc
                await self._sleep(self.delay(attempt, None))
                continue
            except httpx.TransportError as exc:
                raise self.connection_error(exc) from exc
            if response.status_code in call.ok:
                return response.json()
            error = error_from_response(response)
            if response.status_code not in RETRY_STATUSES or last:
                raise error
            await self._sleep(self.delay(attempt, error.retry_after))
        raise AssertionError("unreachable")  # pragma: no cover

    async def predict(
        self,
        window: WindowLike | BatchLike | None = None,
        *,
        windows: BatchLike | None = None,
        model: str = DEFAULT_MODEL,
        intervals: Sequence[int] | None = None,
    ) -> Prediction:
        return self.parse_prediction(await self._send(self.predict_call(window, windows, model, intervals)))

    async def forecast(
        self, window: WindowLike, horizon: int, *, model: str = DEFAULT_MODEL, intervals: Sequence[int] | None = None
    ) -> Forecast:
        return self.parse_forecast(await self._send(self.forecast_call(window, horizon, model, intervals)))

    async def models(self) -> list[ModelInfo]:
        return [ModelInfo.from_json(m) for m in (await self._send(_MODELS))["models"]]

    async def model(self, name: str) -> ModelInfo:
        return ModelInfo.from_json(await self._send(_Call("GET", f"/v1/models/{_name(name)}")))

    async def health(self) -> Status:
        return self.parse_status(await self._send(_HEALTH))

    async def ready(self) -> Status:
        return self.parse_status(await self._send(_READY))

    async def wait_until_ready(self, timeout: float = 60.0, interval: float = 0.5) -> Status:
        deadline = time.monotonic() + timeout
        while True:
            try:
                status = await self.ready()
            except ConnectionFailedError:
                status = Status("unreachable")
            if status.ready:
                return status
            if time.monotonic() >= deadline:
                raise UnavailableError(
                    None, "not_ready", f"not ready after {timeout:g} s: {status.reason or status.status}"
                )
            await self._sleep(interval)
