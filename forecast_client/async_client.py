"""The asyncio client, :class:`AsyncForecastClient`: :class:`ForecastClient`'s methods, awaited."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
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

__all__ = ["AsyncForecastClient"]


class AsyncForecastClient(BaseClient):
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

    async def _send(self, call: Call) -> Any:
        attempts = self.retries + 1 if call.retry else 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response = await self._http.request(call.method, call.path, **self.request_kwargs(call))
            except RETRY_EXCEPTIONS as exc:
                if last:
                    raise connection_error(exc) from exc
                await self._sleep(self.delay(attempt, None))
                continue
            except httpx.TransportError as exc:
                raise connection_error(exc) from exc
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
        return Prediction.from_json(await self._send(predict_call(window, windows, model, intervals)))

    async def forecast(
        self, window: WindowLike, horizon: int, *, model: str = DEFAULT_MODEL, intervals: Sequence[int] | None = None
    ) -> Forecast:
        return Forecast.from_json(await self._send(forecast_call(window, horizon, model, intervals)))

    async def forecast_series(
        self,
        series: Mapping[str, Any],
        horizon: int,
        *,
        model: str = DEFAULT_MODEL,
        quantiles: Sequence[float] | None = None,
        calibration: str | None = None,
        start_timestamps: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        call = timeseries_call(series, horizon, model, quantiles, calibration, start_timestamps)
        answer: dict[str, Any] = await self._send(call)
        return answer

    async def models(self) -> list[ModelInfo]:
        return [ModelInfo.from_json(m) for m in (await self._send(MODELS))["models"]]

    async def model(self, name: str) -> ModelInfo:
        return ModelInfo.from_json(await self._send(model_call(name)))

    async def health(self) -> Status:
        return Status.from_json(await self._send(HEALTH))

    async def ready(self) -> Status:
        return Status.from_json(await self._send(READY))

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
