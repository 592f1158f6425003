"""Admission control: a full queue answers 503 at once, cheap requests pass heavy ones, a queued request
past its deadline is refused without computing. Gated models, never timing: every wait has a cause."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from service.core.config import Settings, cores
from service.core.metrics import Metrics
from service.dataplane import DataPlane, DeadlineExceeded, InferenceRequest, ModelCard, ModelRegistry, ServedModel
from service.dataplane.errors import Overloaded
from tests.reliability.conftest import GOOD, check_error, start_client, wait_ready

WAIT = 30.0  # seconds a gate may stay shut before a test fails instead of hanging


class GatedModel(ServedModel):
    """A fake model whose forecasts block until ``gate`` opens; counts what it computed."""

    def __init__(self) -> None:
        self.card = ModelCard(
            name="gated", model_set="test", kind="univariate", version="1", description="", backend="test",
            window=4, inputs=("high",), outputs=("high",), target_column="High",
            trained_at=datetime(2026, 1, 1, tzinfo=UTC), training_dates=(date(2020, 1, 1), date(2020, 12, 31)),
            parameters=1,
        )  # fmt: skip
        self.gate, self.entered = threading.Event(), threading.Semaphore(0)
        self.forecasts = self.predicts = 0

    def predict(self, x: np.ndarray) -> np.ndarray:
        self.predicts += 1
        return np.full((x.shape[0], 1, 1), 1.0)

    def forecast(self, x: np.ndarray, horizon: int, deadline: float | None) -> np.ndarray:
        self.forecasts += 1
        self.entered.release()
        assert self.gate.wait(WAIT), "the gate was never opened"
        return np.full((x.shape[0], horizon, 1), 1.0)


def plane(tmp_path: Path, **settings: Any) -> DataPlane:
    s = Settings(artifacts_dir=tmp_path, **settings)
    metrics = Metrics()
    return DataPlane(ModelRegistry(s, metrics), s, metrics)


def heavy(**kw: Any) -> InferenceRequest:
    return InferenceRequest(np.full((1, 4), 100.0), horizon=30, **kw)


async def until_entered(model: GatedModel, times: int = 1) -> None:
    """Wait (without blocking the loop) until ``times`` forecasts are inside the model."""
    loop = asyncio.get_running_loop()
    for _ in range(times):
        assert await loop.run_in_executor(None, model.entered.acquire, True, WAIT)


def shed(dp: DataPlane, reason: str) -> float:
    value = dp._metrics.registry.get_sample_value("forecast_requests_shed_total", {"model": "gated", "reason": reason})
    return value or 0.0


def test_the_default_slots_are_the_cores_and_the_settings_read_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings().inflight_limit == cores() >= 1
    monkeypatch.setenv("FORECAST_MAX_INFLIGHT", "3")
    monkeypatch.setenv("FORECAST_MAX_QUEUE", "0")
    assert (Settings().inflight_limit, Settings().max_queue) == (3, 0)
    for bad in ("0", "-1", "many"):
        monkeypatch.setenv("FORECAST_MAX_INFLIGHT", bad)
        with pytest.raises(ValueError, match="max_inflight"):
            Settings()


def test_a_full_queue_is_refused_at_once_and_the_queue_is_served_in_order(tmp_path: Path) -> None:
    dp, model = plane(tmp_path, max_inflight=1, max_queue=1), GatedModel()

    async def scenario() -> None:
        first = asyncio.ensure_future(dp.infer(model, heavy()))
        await until_entered(model)  # holds the only slot
        queued = asyncio.ensure_future(dp.infer(model, heavy()))
        await asyncio.sleep(0)  # let it join the queue
        assert (dp.admission.running, dp.admission.queued) == (1, 1)
        # The gate is still shut, so this answer cannot have waited for any computation.
        with pytest.raises(Overloaded) as info:
            await dp.infer(model, heavy())
        assert info.value.retry_after_s == 1
        assert "1 computations running, 1 waiting" in info.value.message
        assert model.forecasts == 1
        assert shed(dp, "queue_full") == 1
        model.gate.set()
        assert (await first).values.shape == (1, 30, 1)
        assert (await queued).values.shape == (1, 30, 1)
        assert model.forecasts == 2
        assert (dp.admission.running, dp.admission.queued) == (0, 0)

    asyncio.run(scenario())


def test_cheap_requests_pass_while_heavy_ones_hold_every_slot(tmp_path: Path) -> None:
    dp, model = plane(tmp_path, max_inflight=2, max_queue=0), GatedModel()

    async def scenario() -> None:
        holding = [asyncio.ensure_future(dp.infer(model, heavy())) for _ in range(2)]
        await until_entered(model, 2)
        with pytest.raises(Overloaded):
            await dp.infer(model, heavy())
        # A single-window predict (and a small batch) runs on the event loop: no slot, no queue.
        one = await dp.infer(model, InferenceRequest(np.full((1, 4), 100.0)))
        few = await dp.infer(model, InferenceRequest(np.full((8, 4), 100.0), field="windows"))
        assert (one.values.shape, few.values.shape, model.predicts) == ((1, 1, 1), (8, 1, 1), 2)
        model.gate.set()
        await asyncio.gather(*holding)

    asyncio.run(scenario())


def test_a_queued_request_past_its_deadline_is_refused_without_computing(tmp_path: Path) -> None:
    dp, model = plane(tmp_path, max_inflight=1, max_queue=4, request_timeout_s=0.2), GatedModel()

    async def scenario() -> None:
        first = asyncio.ensure_future(dp.infer(model, heavy()))
        await until_entered(model)
        # Arrived "earlier": its deadline passes while the slot is held (the gate stays shut until then).
        with pytest.raises(DeadlineExceeded) as info:
            await dp.infer(model, heavy())
        assert info.value.queued
        assert "nothing was computed" in info.value.message
        # A request whose deadline had already passed when it arrived is refused without queueing at all.
        with pytest.raises(DeadlineExceeded):
            await dp.infer(model, heavy(received=time.monotonic() - 60))
        assert model.forecasts == 1
        assert shed(dp, "deadline") == 2
        model.gate.set()
        await first
        assert dp.admission.queued == 0
        assert dp.admission.running == 0

    asyncio.run(scenario())


def test_work_runs_in_a_pool_of_its_own_sized_to_the_slots(tmp_path: Path) -> None:
    dp, model = plane(tmp_path, max_inflight=3, max_queue=8), GatedModel()
    threads: set[str] = set()
    original = model.forecast

    def forecast(x: np.ndarray, horizon: int, deadline: float | None) -> np.ndarray:
        threads.add(threading.current_thread().name)
        return original(x, horizon, deadline)

    model.forecast = forecast  # type: ignore[method-assign]

    async def scenario() -> None:
        tasks = [asyncio.ensure_future(dp.infer(model, heavy())) for _ in range(9)]
        await until_entered(model, 3)
        assert (dp.admission.running, dp.admission.queued) == (3, 6)
        model.gate.set()
        await asyncio.gather(*tasks)

    asyncio.run(scenario())
    assert len(threads) <= 3, threads
    assert all(name.startswith("model") for name in threads), threads


# --- over HTTP: the 503's shape and headers, and probes while every slot is held ----------------------


@pytest.fixture
def gated_gru(tiny_artifacts: Path) -> Iterator[tuple[TestClient, threading.Event, threading.Semaphore]]:
    """An app with one slot and no queue whose ``gru`` forecasts wait for the returned gate."""
    client = start_client(artifacts_dir=tiny_artifacts, max_inflight=1, max_queue=0)
    gate, entered = threading.Event(), threading.Semaphore(0)
    try:
        wait_ready(client)
        model = client.app.state.dataplane.registry.get("gru")  # type: ignore[attr-defined]
        original = model.forecast

        def forecast(x: np.ndarray, horizon: int, deadline: float | None) -> np.ndarray:
            entered.release()
            assert gate.wait(WAIT)
            return original(x, horizon, deadline)

        model.forecast = forecast
        yield client, gate, entered
    finally:
        gate.set()
        client.__exit__(None, None, None)


def test_over_http_the_refusal_is_a_503_with_retry_after_and_probes_still_answer(
    gated_gru: tuple[TestClient, threading.Event, threading.Semaphore],
) -> None:
    client, gate, entered = gated_gru
    held: dict[str, Any] = {}
    body = {"window": GOOD, "horizon": 30}
    worker = threading.Thread(target=lambda: held.update(r=client.post("/v1/models/gru/forecast", json=body)))
    worker.start()
    assert entered.acquire(timeout=WAIT)
    refused = client.post("/v1/models/gru/forecast", json=body)
    error = check_error(refused, 503, "overloaded")
    assert refused.headers["retry-after"] == "1"
    assert "retry after 1 s" in error["message"]
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.post("/v1/models/gru/predict", json={"window": GOOD}).status_code == 200
    metrics = client.get("/metrics").text
    assert 'forecast_requests_shed_total{model="gru",reason="queue_full"} 1.0' in metrics
    assert "forecast_work_running 1.0" in metrics
    gate.set()
    worker.join(WAIT)
    assert held["r"].status_code == 200, held["r"].text
