"""The per-request deadline: a long forecast gives its worker back with 504 deadline_exceeded, in the error shape."""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from forecast_core.loader import load_set
from forecast_core.predictor import DeadlineExceeded, Predictor
from service.core.config import Settings
from service.dataplane import dataplane as dataplane_module
from service.dataplane.dataplane import _stop_rule
from tests.reliability.conftest import GOOD, check_error, start_client, wait_ready


class FakeClock:
    """A ``time.monotonic`` the test moves: the dataplane's stop rule reads it, nothing else does."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def monotonic(self) -> float:
        return self.now


class TickingBackend:
    """Wraps a backend; each call moves ``clock`` on by ``tick`` seconds (a call that takes that long) and is
    counted."""

    def __init__(self, inner: object, clock: FakeClock, tick: float) -> None:
        self.inner, self.clock, self.tick = inner, clock, tick
        self.kind, self.window = inner.kind, inner.window  # type: ignore[attr-defined]
        self.calls = 0
        self._lock = threading.Lock()

    def predict(self, windows: np.ndarray) -> np.ndarray:
        with self._lock:
            self.calls += 1
            self.clock.now += self.tick
        return self.inner.predict(windows)  # type: ignore[attr-defined, no-any-return]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The dataplane's clock, injected: it reads the real monotonic time plus whatever the test adds."""
    fake = FakeClock(time.monotonic())
    clock = SimpleNamespace(monotonic=fake.monotonic, perf_counter=time.perf_counter)
    monkeypatch.setattr(dataplane_module, "time", clock)
    return fake


@pytest.fixture(scope="module")
def lstm(tiny_artifacts: Path) -> Predictor:
    return load_set(tiny_artifacts, ("lstm",)).predictors["lstm"]


def test_setting_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().request_timeout_s == 10.0
    monkeypatch.setenv("FORECAST_REQUEST_TIMEOUT_S", "2.5")
    assert Settings().request_timeout_s == 2.5
    for bad in ("0", "-1", "nope"):
        monkeypatch.setenv("FORECAST_REQUEST_TIMEOUT_S", bad)
        with pytest.raises(ValueError, match="request_timeout_s"):
            Settings()


def test_no_stop_rule_and_one_that_never_fires_change_nothing(lstm: Predictor) -> None:
    window = np.array(GOOD)
    plain = lstm.forecast(window, 30)
    np.testing.assert_array_equal(lstm.forecast(window, 30, _stop_rule(time.monotonic() + 3600, None)), plain)
    many = np.stack([window, window * 1.01])
    never = _stop_rule(time.monotonic() + 3600, threading.Event())
    np.testing.assert_array_equal(lstm.forecast_many(many, 30, never)[0], plain)


def test_a_passed_deadline_stops_before_the_first_step(lstm: Predictor) -> None:
    with pytest.raises(DeadlineExceeded) as info:
        lstm.forecast(np.array(GOOD), 50, _stop_rule(time.monotonic() - 1, None))
    assert (info.value.steps_done, info.value.horizon) == (0, 50)
    assert "0 of 50 steps" in str(info.value)


def test_the_deadline_is_checked_between_steps(lstm: Predictor, clock: FakeClock) -> None:
    """Each model call takes 10 s of the injected clock and the deadline is 105 s away: ten calls end
    before it, the eleventh ends past it, and no twelfth is made."""
    ticking = TickingBackend(lstm.backends[0], clock, tick=10.0)
    predictor = dataclasses.replace(lstm, backends=[ticking])
    with pytest.raises(DeadlineExceeded) as info:
        predictor.forecast(np.array(GOOD), 1000, _stop_rule(clock.now + 105.0, None))
    assert (info.value.steps_done, info.value.horizon) == (11, 1000)
    assert ticking.calls == 11


def test_forecast_past_the_deadline_is_504_in_the_error_shape(tiny_artifacts: Path) -> None:
    client = start_client(artifacts_dir=tiny_artifacts, request_timeout_s=1e-6)
    try:
        wait_ready(client)
        for name in ("lstm", "gru", "ensemble"):
            response = client.post(f"/v1/models/{name}/forecast", json={"window": GOOD, "horizon": 365})
            error = check_error(response, 504, "deadline_exceeded")
            assert re.search(r"\(\d+ of 365 steps done\)", error["message"]), error
            assert "limit of 1e-06 s" in error["message"]
        # Next-step predictions are one model call each: not subject to the loop's deadline.
        assert client.post("/v1/models/lstm/predict", json={"window": GOOD}).status_code == 200
        # The 504 is documented, and counted like any other status.
        responses = client.get("/openapi.json").json()["paths"]["/v1/models/{name}/forecast"]["post"]["responses"]
        assert "504" in responses
        assert 'status="504"' in client.get("/metrics").text
    finally:
        client.__exit__(None, None, None)


def test_a_long_forecast_gives_its_worker_back(tiny_artifacts: Path, clock: FakeClock) -> None:
    """Every model call takes 1000 s of the dataplane's (injected) clock and the limit is 2500 s: a
    365-step forecast (365,000 s) stops with 504 after its third call, and the same server answers the
    next request. (The real time the request takes to reach the model counts too, and would have to
    reach 500 s to change the answer.)"""
    client = start_client(artifacts_dir=tiny_artifacts, request_timeout_s=2500, batching=False)
    try:
        wait_ready(client)
        model = client.app.state.dataplane.registry.get("gru")  # type: ignore[attr-defined]
        predictor = model.predictor
        ticking = TickingBackend(predictor.backends[0], clock, tick=1000.0)
        model.predictor = dataclasses.replace(predictor, backends=[ticking])
        clock.now = time.monotonic()  # the request arrives now, by both clocks
        response = client.post("/v1/models/gru/forecast", json={"window": GOOD, "horizon": 365})
        error = check_error(response, 504, "deadline_exceeded")
        done = int(re.search(r"\((\d+) of 365", error["message"]).group(1))  # type: ignore[union-attr]
        assert done == 3, error
        assert ticking.calls == 3
        # The same server answers the next request normally (the clock back in step with real time).
        clock.now = time.monotonic()
        ok = client.post("/v1/models/lstm/forecast", json={"window": GOOD, "horizon": 5})
        assert ok.status_code == 200, ok.text
    finally:
        client.__exit__(None, None, None)
