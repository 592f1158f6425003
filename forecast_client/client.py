"""The synchronous client, :class:`ForecastClient`."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx

from forecast_client._base import (
    DEFAULT_MODEL,
    HEALTH,
    MODELS,
    READY,
    RETRY_EXCEPTIONS,
    RETRY_STATUSES,
    BaseClient,
    Call,
    forecast_call,
    model_call,
    predict_call,
    timeseries_call,
)
from forecast_client.errors import ConnectionFailedError, UnavailableError, connection_error, error_from_response
from forecast_client.models import BatchLike, Forecast, ModelInfo, Prediction, Status, WindowLike

__all__ = ["ForecastClient"]


class ForecastClient(BaseClient):
    """Synchronous client. Use as a context manager, or call :meth:`close`.

    ``retries``: how many times a 503 or a connection failure is retried (0: never); the wait doubles from
    ``backoff`` seconds, or is the server's ``Retry-After``, and never exceeds ``max_delay``. ``transport``:
    any httpx transport (``httpx.MockTransport``, or a test app's), used instead of the network.
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

    def _send(self, call: Call) -> Any:
        attempts = self.retries + 1 if call.retry else 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response = self._http.request(call.method, call.path, **self.request_kwargs(call))
            except RETRY_EXCEPTIONS as exc:
                if last:
                    raise connection_error(exc) from exc
                self._sleep(self.delay(attempt, None))
                continue
            except httpx.TransportError as exc:
                raise connection_error(exc) from exc
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
        return Prediction.from_json(self._send(predict_call(window, windows, model, intervals)))

    def forecast(
        self, window: WindowLike, horizon: int, *, model: str = DEFAULT_MODEL, intervals: Sequence[int] | None = None
    ) -> Forecast:
        """Recursive ``horizon``-step forecast; ``intervals`` (levels in percent) is sent only when given."""
        return Forecast.from_json(self._send(forecast_call(window, horizon, model, intervals)))

    def forecast_series(
        self,
        series: Mapping[str, Any],
        horizon: int,
        *,
        model: str = DEFAULT_MODEL,
        quantiles: Sequence[float] | None = None,
        calibration: str | None = None,
        start_timestamps: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """KServe's time-series forecast of every history in ``series`` (name -> prices, or rows of
        open/high/low/close for the OHLC models), ``horizon`` trading sessions ahead; the answer as the
        protocol's plain JSON (``outputs`` in the order of ``series``). See docs/timeseries.md."""
        call = timeseries_call(series, horizon, model, quantiles, calibration, start_timestamps)
        answer: dict[str, Any] = self._send(call)
        return answer

    def models(self) -> list[ModelInfo]:
        """Every served model's metadata."""
        return [ModelInfo.from_json(m) for m in self._send(MODELS)["models"]]

    def model(self, name: str) -> ModelInfo:
        """One model's metadata; :class:`NotFoundError` for an unknown name."""
        return ModelInfo.from_json(self._send(model_call(name)))

    def health(self) -> Status:
        """The liveness probe's answer."""
        return Status.from_json(self._send(HEALTH))

    def ready(self) -> Status:
        """The readiness probe's answer; a server still loading is not an error here (``.ready`` is False)."""
        return Status.from_json(self._send(READY))

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
