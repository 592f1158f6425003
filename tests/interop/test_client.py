"""The typed client, ``forecast_client``: against a real server, and retry/backoff with httpx.MockTransport."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from forecast_client import (
    AsyncForecastClient,
    ConnectionFailedError,
    DeadlineExceededError,
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
)
from tests.interop.conftest import Server, free_port

# --- against a real server ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[ForecastClient]:
    with ForecastClient(server.url, api_key=server.api_key, timeout=30.0) as c:
        yield c


@pytest.mark.slow
class TestRealServer:
    def test_health_ready_and_models(self, client: ForecastClient, server: Server) -> None:
        assert client.health() == Status("alive")
        ready = client.ready()
        assert ready.ready
        assert ready.models == {"lstm": "ready", "gru": "ready", "ensemble": "ready"}
        models = client.models()
        assert [m.name for m in models] == ["lstm", "gru", "ensemble"]
        assert all(isinstance(m, ModelInfo) and m.window == server.window and m.ready for m in models)
        lstm = client.model("lstm")
        assert lstm == models[0]
        assert lstm.backend == "onnx"
        assert lstm.parameters > 0
        assert client.model("ensemble").members == ["lstm", "gru"]

    def test_predict_one_window_and_a_batch(self, client: ForecastClient, server: Server, windows: np.ndarray) -> None:
        one = client.predict(windows[0].tolist())
        assert isinstance(one, Prediction)
        assert one.model == "ensemble"
        assert one.predictions == server.v1_predict("ensemble", windows[:1])
        batch = client.predict(windows=windows, model="gru")  # a numpy array works as input
        assert batch.predictions == server.v1_predict("gru", windows)
        assert client.predict(windows[:2], model="gru").predictions == batch.predictions[:2]  # 2-D: a batch

    def test_forecast(self, client: ForecastClient, server: Server, windows: np.ndarray) -> None:
        result = client.forecast(windows[1], 4, model="lstm")
        assert isinstance(result, Forecast)
        assert result.horizon == 4
        assert result.forecast == server.v1_forecast("lstm", windows[1], 4)
        assert result.intervals is None

    def test_intervals_pass_through(self, client: ForecastClient, windows: np.ndarray) -> None:
        forecast = client.forecast(windows[1], 3, model="lstm", intervals=[95, 80])
        assert forecast.intervals is not None
        assert [i.level for i in forecast.intervals] == [80, 95]
        for interval in forecast.intervals:
            assert len(interval.lower) == len(interval.upper) == 3
            assert all(
                lo <= f <= hi for lo, f, hi in zip(interval.lower, forecast.forecast, interval.upper, strict=True)
            )
        prediction = client.predict(windows=windows[:2], intervals=[90])
        assert prediction.intervals is not None
        assert [(i.level, len(i.lower)) for i in prediction.intervals] == [(90, 2)]
        with pytest.raises(InvalidInputError) as info:
            client.forecast(windows[1], 3, intervals=[42])
        assert info.value.details[0].field.startswith("intervals")

    def test_errors_carry_the_servers_message(self, client: ForecastClient, windows: np.ndarray) -> None:
        with pytest.raises(NotFoundError) as not_found:
            client.model("nope")
        assert (not_found.value.status, not_found.value.code) == (404, "unknown_model")
        assert "unknown model 'nope'" in not_found.value.message
        with pytest.raises(InvalidInputError) as short:
            client.predict([100.0, 101.0])
        assert short.value.status == 422
        assert short.value.details[0].field == "window"
        assert short.value.details[0].rule == "length"
        bad = windows[0].copy()
        bad[3] = np.nan
        with pytest.raises(InvalidInputError) as nan:
            client.predict(bad)
        assert [d.field for d in nan.value.details] == ["window[3]"]

    def test_wrong_api_key_is_unauthorized(self, server: Server, windows: np.ndarray) -> None:
        with ForecastClient(server.url, api_key="wrong") as c, pytest.raises(UnauthorizedError) as info:
            c.predict(windows[0])
        assert info.value.status == 401
        assert "X-API-Key" in info.value.message

    def test_async_client(self, server: Server, windows: np.ndarray) -> None:
        async def run() -> tuple[Status, Prediction, Forecast, list[ModelInfo]]:
            async with AsyncForecastClient(server.url, api_key=server.api_key, timeout=30.0) as c:
                return await asyncio.gather(
                    c.ready(), c.predict(windows=windows[:3]), c.forecast(windows[0], 3), c.models()
                )

        ready, prediction, forecast, models = asyncio.run(run())
        assert ready.ready
        assert prediction.predictions == server.v1_predict("ensemble", windows[:3])
        assert forecast.forecast == server.v1_forecast("ensemble", windows[0], 3)
        assert len(models) == 3


# --- retry and error mapping, with a scripted transport -----------------------------------------------

Handler = Callable[[httpx.Request], httpx.Response]
OK_PREDICTION = {"model": "ensemble", "version": "v1", "predictions": [101.5], "warnings": []}


def scripted(*responses: httpx.Response | Exception) -> tuple[Handler, list[httpx.Request]]:
    """A MockTransport handler answering with ``responses`` in order (an exception is raised instead)."""
    seen: list[httpx.Request] = []
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        item = queue.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    return handler, seen


def unavailable(retry_after: str | None = None) -> httpx.Response:
    body = {"error": {"status": 503, "code": "model_unavailable", "message": "model 'ensemble' is loading"}}
    return httpx.Response(503, json=body, headers={"Retry-After": retry_after} if retry_after else {})


def mock_client(handler: Handler, **kwargs: Any) -> tuple[ForecastClient, list[float]]:
    slept: list[float] = []
    options: dict[str, Any] = {"retries": 3, "jitter": 0, "sleep": slept.append, **kwargs}
    return ForecastClient("http://forecast.test", transport=httpx.MockTransport(handler), **options), slept


def test_503_then_200_is_retried_honouring_retry_after() -> None:
    handler, seen = scripted(unavailable("2"), httpx.Response(200, json=OK_PREDICTION))
    client, slept = mock_client(handler)
    assert client.predict([1.0, 2.0]).predictions == [101.5]
    assert len(seen) == 2
    assert slept == [2.0]
    assert json.loads(seen[0].content) == json.loads(seen[1].content) == {"window": [1.0, 2.0]}


def test_gives_up_after_n_retries_with_exponential_backoff() -> None:
    handler, seen = scripted(*[unavailable() for _ in range(4)])
    client, slept = mock_client(handler, retries=3, backoff=0.5)
    with pytest.raises(UnavailableError) as info:
        client.predict([1.0])
    assert len(seen) == 4  # the first try and 3 retries
    assert slept == [0.5, 1.0, 2.0]
    assert info.value.status == 503
    assert info.value.message == "model 'ensemble' is loading"


def test_backoff_and_retry_after_are_capped() -> None:
    handler, _ = scripted(unavailable("3600"), unavailable(), unavailable(), httpx.Response(200, json=OK_PREDICTION))
    client, slept = mock_client(handler, backoff=4.0, max_delay=5.0)
    client.predict([1.0])
    assert slept == [5.0, 5.0, 5.0]  # Retry-After 3600 capped; 8 and 16 s of backoff capped too


def test_retries_zero_means_one_attempt() -> None:
    handler, seen = scripted(unavailable("1"))
    client, slept = mock_client(handler, retries=0)
    with pytest.raises(UnavailableError):
        client.predict([1.0])
    assert (len(seen), slept) == (1, [])


def test_connection_errors_are_retried_but_read_timeouts_are_not() -> None:
    handler, seen = scripted(httpx.ConnectError("refused"), httpx.Response(200, json=OK_PREDICTION))
    client, slept = mock_client(handler)
    assert client.predict([1.0]).predictions == [101.5]
    assert (len(seen), slept) == (2, [0.25])

    handler, seen = scripted(httpx.ReadTimeout("slow"))
    client, slept = mock_client(handler)
    with pytest.raises(ConnectionFailedError) as info:
        client.predict([1.0])
    assert (len(seen), slept, info.value.code) == (1, [], "timeout")


@pytest.mark.parametrize(
    ("status", "body", "cls", "code", "message"),
    [
        (
            422,
            {
                "error": {
                    "status": 422,
                    "code": "validation_error",
                    "message": "window[2]: Input should be greater than 0",
                    "details": [
                        {"field": "window[2]", "rule": "positive", "message": "Input should be greater than 0"}
                    ],
                }
            },
            InvalidInputError,
            "validation_error",
            "window[2]: Input should be greater than 0",
        ),
        (400, {"error": "input 'window': shape [1, 3] needs 3 values"}, InvalidInputError, "http_error", None),
        (401, {"error": {"status": 401, "code": "unauthorized", "message": "no key"}}, UnauthorizedError, None, None),
        (404, {"error": {"status": 404, "code": "unknown_model", "message": "unknown"}}, NotFoundError, None, None),
        (500, {"error": {"status": 500, "code": "internal_error", "message": "oops"}}, ServerError, None, None),
        (
            504,
            {"error": {"status": 504, "code": "deadline_exceeded", "message": "slow"}},
            DeadlineExceededError,
            None,
            None,
        ),
        (418, "I'm a teapot", ForecastError, "http_error", "I'm a teapot"),
    ],
)
def test_error_mapping_is_not_retried(
    status: int, body: Any, cls: type[ForecastError], code: str | None, message: str | None
) -> None:
    response = httpx.Response(status, json=body) if not isinstance(body, str) else httpx.Response(status, text=body)
    handler, seen = scripted(response)
    client, slept = mock_client(handler)
    with pytest.raises(cls) as info:
        client.forecast([1.0], 2)
    assert type(info.value) is cls
    assert (len(seen), slept) == (1, [])
    assert info.value.status == status
    if code is not None:
        assert info.value.code == code
    if message is not None:
        assert info.value.message == message
    if isinstance(body, dict) and isinstance(body["error"], str):
        assert info.value.message == body["error"]
    if status == 422:
        assert info.value.details[0].field == "window[2]"
        assert info.value.details[0].rule == "positive"


def test_requests_carry_the_key_and_intervals_only_when_given() -> None:
    forecast = {"model": "lstm", "version": "v1", "horizon": 2, "forecast": [1.0, 2.0], "warnings": []}
    bounds = [{"level": 80, "lower": [0.5, 1.0], "upper": [1.5, 3.0]}]
    handler, seen = scripted(
        httpx.Response(200, json=forecast),
        httpx.Response(200, json={**forecast, "intervals": bounds}),
        httpx.Response(200, json={**OK_PREDICTION, "intervals": None}),
    )
    client, _ = mock_client(handler, api_key="s3cret")
    plain = client.forecast(np.array([1.0, 2.0], dtype=np.float32), 2, model="lstm")
    result = client.forecast([1.0, 2.0], 2, model="lstm", intervals=(80,))
    client.predict(np.array([[1.0], [2.0]]), intervals=[50, 99])
    assert [r.headers["X-API-Key"] for r in seen] == ["s3cret"] * 3
    assert [r.url.path for r in seen] == ["/v1/models/lstm/forecast"] * 2 + ["/v1/models/ensemble/predict"]
    assert json.loads(seen[0].content) == {"window": [1.0, 2.0], "horizon": 2}
    assert json.loads(seen[1].content) == {"window": [1.0, 2.0], "horizon": 2, "intervals": [80]}
    assert json.loads(seen[2].content) == {"windows": [[1.0], [2.0]], "intervals": [50, 99]}
    assert seen[0].headers["Content-Type"] == "application/json"
    assert plain.intervals is None
    assert result.intervals == [Interval(80, [0.5, 1.0], [1.5, 3.0])]


def test_predict_needs_exactly_one_of_window_or_windows() -> None:
    client, _ = mock_client(scripted()[0])
    with pytest.raises(TypeError):
        client.predict()
    with pytest.raises(TypeError):
        client.predict([1.0], windows=[[1.0]])


def test_ready_reports_loading_without_retrying() -> None:
    body = {"status": "loading", "reason": "artifacts are loading", "models": {"lstm": "loading"}}
    handler, seen = scripted(httpx.Response(503, json=body))
    client, slept = mock_client(handler)
    status = client.ready()
    assert status == Status("loading", "artifacts are loading", {"lstm": "loading"})
    assert not status.ready
    assert (len(seen), slept) == (1, [])


def test_async_client_retries_503_then_succeeds() -> None:
    handler, seen = scripted(unavailable("1"), unavailable(), httpx.Response(200, json=OK_PREDICTION))
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def run() -> Prediction:
        transport = httpx.MockTransport(handler)
        async with AsyncForecastClient("http://forecast.test", transport=transport, jitter=0, sleep=sleep) as c:
            return await c.predict(windows=[[1.0], [2.0]], model="lstm")

    assert asyncio.run(run()).predictions == [101.5]
    assert len(seen) == 3
    assert slept == [1.0, 0.5]  # Retry-After, then the second step of the backoff
    assert json.loads(seen[0].content) == {"windows": [[1.0], [2.0]]}


def test_async_client_gives_up_after_n_retries() -> None:
    handler, seen = scripted(*[unavailable() for _ in range(3)])

    async def no_sleep(_: float) -> None:
        return None

    async def run() -> None:
        transport = httpx.MockTransport(handler)
        async with AsyncForecastClient("http://forecast.test", transport=transport, retries=2, sleep=no_sleep) as c:
            await c.predict([1.0])

    with pytest.raises(UnavailableError):
        asyncio.run(run())
    assert len(seen) == 3


def test_nothing_listening_is_a_connection_error_after_the_retries() -> None:
    slept: list[float] = []
    client = ForecastClient(f"http://127.0.0.1:{free_port()}", retries=2, jitter=0, sleep=slept.append)
    with client, pytest.raises(ConnectionFailedError) as info:
        client.health()
    assert info.value.status is None
    assert info.value.code == "connection_error"
    assert slept == [0.25, 0.5]


def test_importing_the_client_pulls_in_no_numerical_stack() -> None:
    code = (
        "import sys, forecast_client; "
        "print(sorted(m for m in ('numpy', 'onnxruntime', 'tensorflow', 'fastapi', 'pydantic') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
