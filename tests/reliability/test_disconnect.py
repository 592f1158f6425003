"""Cancellation: a forecast whose client disconnected stops at its next step, and a queued one never starts.

The ASGI app is driven directly, with a ``receive`` that says ``http.disconnect`` once the forecast is
known to be part way; every wait has a cause (an event), none a duration.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from forecast_core.loader import load_set
from forecast_core.predictor import DeadlineExceeded as StepsDeadlineExceeded
from service.dataplane import InferenceRequest
from service.dataplane.errors import ClientDisconnected
from tests.reliability.conftest import GOOD, start_client, wait_ready

WAIT = 30.0
HORIZON = 365
STOP_AFTER = 5  # the model call during which the client leaves


class PausingBackend:
    """Wraps a backend; call number ``pause_at`` waits until ``release`` is set. Counts the calls."""

    def __init__(self, inner: Any, pause_at: int) -> None:
        self.inner, self.pause_at = inner, pause_at
        self.kind, self.window = inner.kind, inner.window
        self.calls = 0
        self.paused, self.release = threading.Event(), threading.Event()

    def predict(self, windows: np.ndarray) -> np.ndarray:
        self.calls += 1
        if self.calls == self.pause_at:
            self.paused.set()
            assert self.release.wait(WAIT), "never released"
        return self.inner.predict(windows)


def test_a_cancelled_deadline_stops_the_real_predictor_at_the_next_step(tiny_artifacts: Path) -> None:
    predictor = load_set(tiny_artifacts, ("lstm",)).predictors["lstm"]
    cancelled = threading.Event()
    backend = PausingBackend(predictor.backends[0], STOP_AFTER)
    backend.release = cancelled  # the call that cancels is the one that resumes: no race possible
    stepping = dataclasses.replace(predictor, backends=[backend])

    def cancel_when_paused() -> None:
        assert backend.paused.wait(WAIT)
        cancelled.set()

    threading.Thread(target=cancel_when_paused, daemon=True).start()
    with pytest.raises(StepsDeadlineExceeded) as info:
        stepping.forecast(np.array(GOOD), HORIZON, cancelled.is_set)
    assert info.value.steps_done == STOP_AFTER == backend.calls
    # Never told to stop: the same answer as with no stop rule at all.
    never = threading.Event().is_set
    np.testing.assert_array_equal(predictor.forecast(np.array(GOOD), 20, never), predictor.forecast(np.array(GOOD), 20))


class UntilStopped:
    """An Event-like release for :class:`PausingBackend`: set once the forecast's stop rule says stop."""

    def __init__(self, should_stop: Any) -> None:
        self.should_stop = should_stop

    def wait(self, timeout: float) -> bool:
        give_up = time.monotonic() + timeout
        while time.monotonic() < give_up:
            if self.should_stop():
                return True
            time.sleep(0.001)  # a bounded wait for a cause (the cancellation), not an ordering sleep
        return False


@pytest.fixture
def served_gru(tiny_artifacts: Path) -> Iterator[tuple[TestClient, PausingBackend]]:
    client = start_client(artifacts_dir=tiny_artifacts, batching=False, request_timeout_s=600)
    try:
        wait_ready(client)
        model = client.app.state.dataplane.registry.get("gru")  # type: ignore[attr-defined]
        backend = PausingBackend(model.predictor.backends[0], STOP_AFTER)
        model.predictor = dataclasses.replace(model.predictor, backends=[backend])
        original = model.forecast

        def forecast(x: np.ndarray, horizon: int, should_stop: Any) -> np.ndarray:
            # The paused call resumes once the dataplane's stop rule says stop (the request was cancelled).
            assert should_stop is not None
            backend.release = UntilStopped(should_stop)  # type: ignore[assignment]
            return original(x, horizon, should_stop)

        model.forecast = forecast
        yield client, backend
    finally:
        client.__exit__(None, None, None)


async def call_and_leave(app: Any, path: str, body: dict[str, Any], leave: threading.Event) -> list[dict[str, Any]]:
    """One POST through the whole ASGI app; the client disconnects once ``leave`` is set."""
    raw = json.dumps(body).encode()
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())],
        "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
    }  # fmt: skip
    messages = [{"type": "http.request", "body": raw, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop()
        assert await asyncio.get_running_loop().run_in_executor(None, leave.wait, WAIT)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


@pytest.mark.parametrize(
    ("path", "body", "answer"),
    [
        ("/v1/models/gru/forecast", {"window": GOOD, "horizon": HORIZON}, b"client_disconnected"),
        (
            "/v2/models/gru/infer",
            {
                "inputs": [{"name": "window", "datatype": "FP32", "shape": [1, len(GOOD)], "data": GOOD}],
                "parameters": {"horizon": HORIZON},
            },
            b"disconnected",
        ),
    ],
    ids=["v1", "v2"],
)
def test_a_forecast_whose_client_disconnected_stops_within_one_step(
    served_gru: tuple[TestClient, PausingBackend], path: str, body: dict[str, Any], answer: bytes
) -> None:
    client, backend = served_gru
    sent = asyncio.run(call_and_leave(client.app, path, body, backend.paused))
    # The client left during call 5; the forecast stopped before call 6 and nothing else was computed.
    assert backend.calls == STOP_AFTER
    assert sent[0]["status"] == 499
    assert answer in sent[1]["body"]
    metrics = client.get("/metrics").text
    assert 'forecast_requests_cancelled_total{model="gru"} 1.0' in metrics
    assert "forecast_work_running 0.0" in metrics


def test_a_queued_request_whose_client_left_never_starts(tiny_artifacts: Path) -> None:
    client = start_client(artifacts_dir=tiny_artifacts, batching=False, max_inflight=1, max_queue=4)
    try:
        wait_ready(client)
        app = client.app
        dp = app.state.dataplane  # type: ignore[attr-defined]
        model = dp.registry.get("lstm")
        gate, entered = threading.Event(), threading.Event()
        original = model.forecast
        started: list[int] = []

        def forecast(x: np.ndarray, horizon: int, deadline: float | None) -> np.ndarray:
            started.append(horizon)
            entered.set()
            assert gate.wait(WAIT)
            return original(x, horizon, deadline)

        model.forecast = forecast

        async def scenario() -> list[dict[str, Any]]:
            holder = asyncio.ensure_future(dp.infer(model, InferenceRequest(np.array([GOOD]), horizon=11)))
            assert await asyncio.get_running_loop().run_in_executor(None, entered.wait, WAIT)
            leave = threading.Event()
            queued = asyncio.ensure_future(
                call_and_leave(app, "/v1/models/lstm/forecast", {"window": GOOD, "horizon": 12}, leave)
            )
            waiting_until = asyncio.get_running_loop().time() + WAIT
            while dp.admission.queued == 0:  # until it waits for the slot
                assert asyncio.get_running_loop().time() < waiting_until, f"never queued after {WAIT} s"
                await asyncio.sleep(0.001)
            leave.set()
            sent = await queued  # answered while the slot is still held: it left the queue at once
            assert dp.admission.queued == 0
            assert not gate.is_set()
            gate.set()
            await holder
            return sent

        sent = asyncio.run(scenario())
        assert sent[0]["status"] == 499
        assert started == [11]  # the queued forecast (horizon 12) never ran
    finally:
        client.__exit__(None, None, None)


def test_a_request_cancelled_by_its_caller_is_not_computed(tiny_artifacts: Path) -> None:
    """The dataplane's own hook: a caller that knows the answer is no longer wanted sets the event."""
    client = start_client(artifacts_dir=tiny_artifacts, batching=False)
    try:
        wait_ready(client)
        dp = client.app.state.dataplane  # type: ignore[attr-defined]
        cancelled = threading.Event()
        cancelled.set()
        request = InferenceRequest(np.array([GOOD]), horizon=50, cancelled=cancelled)
        with pytest.raises(ClientDisconnected, match="after 0 steps"):
            asyncio.run(dp.infer(dp.model("ensemble"), request))
    finally:
        client.__exit__(None, None, None)


def test_a_transport_that_cannot_report_a_disconnect_does_not_stop_the_work(tiny_artifacts: Path) -> None:
    async def broken() -> None:
        raise RuntimeError("receive is not available")

    client = start_client(artifacts_dir=tiny_artifacts, batching=False)
    try:
        wait_ready(client)
        dp = client.app.state.dataplane  # type: ignore[attr-defined]

        async def scenario() -> Any:
            request = InferenceRequest(np.array([GOOD]), horizon=30, client_gone=broken)
            return await dp.infer(dp.model("gru"), request)

        assert asyncio.run(scenario()).values.shape == (1, 30, 1)
    finally:
        client.__exit__(None, None, None)
