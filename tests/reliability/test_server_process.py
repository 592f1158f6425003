"""The real server process: SIGTERM with forecasts in flight, and a short soak (both @slow)."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from benchmarks.soak import soak, start_server
from forecast_core.loader import load_set
from tests.reliability.conftest import GOOD

IN_FLIGHT = 20
HORIZON = 1500  # long enough that 20 of them take seconds on 2 cores, so they are in flight at the signal


def _sample(text: str, prefix: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix))


def wait_all_arrived_some_running(url: str, count: int, timeout: float = 300.0) -> None:
    """Until one /metrics scrape shows all ``count`` forecasts reached the app (running, or answered)
    and at least one still running. Not "all running at once": on a busy machine a scrape can wait
    behind 20 compute threads for the GIL until the first forecasts are done."""
    deadline = time.monotonic() + timeout
    answered = 'http_requests_total{method="POST",route="/v1/models/{name}/forecast",status="200"}'
    while time.monotonic() < deadline:
        text = httpx.get(f"{url}/metrics", timeout=timeout).text
        running = _sample(text, "http_requests_in_flight ") - 1  # the scrape itself is in flight too
        if running >= 1 and running + _sample(text, answered) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"the server never had all {count} requests with some still running")


@pytest.mark.slow
def test_sigterm_lets_in_flight_requests_finish(tiny_artifacts: Path, tmp_path: Path) -> None:
    """20 concurrent 1500-step ensemble forecasts, SIGTERM once all are sent: all 200 and right, exit status 0."""
    reference = load_set(tiny_artifacts).predictors["ensemble"]
    windows = [np.array(GOOD) * (1 + i / 50) for i in range(IN_FLIGHT)]
    # Neither the request deadline nor the shutdown window is under test: a busy machine must not turn
    # this test into a 504 or a reset connection.
    server = start_server(
        tiny_artifacts,
        tmp_path / "server.log",
        FORECAST_MAX_HORIZON=str(HORIZON),
        FORECAST_REQUEST_TIMEOUT_S="600",
        FORECAST_SHUTDOWN_TIMEOUT_S="300",
        # All 20 computing at once, as the test needs them in flight together: with the default one slot
        # per core they run in turn and the first ones are answered before the last are sent.
        FORECAST_MAX_INFLIGHT=str(IN_FLIGHT),
    )
    sent = threading.Semaphore(0)
    results: dict[int, Any] = {}
    finished_at: dict[int, float] = {}

    def forecast(i: int) -> None:
        hooks = {"request": [lambda _: sent.release()]}
        try:
            with httpx.Client(base_url=server.url, timeout=120.0, event_hooks=hooks) as client:
                body = {"window": windows[i].tolist(), "horizon": HORIZON}
                results[i] = client.post("/v1/models/ensemble/forecast", json=body)
        except Exception as exc:
            results[i] = exc
        finished_at[i] = time.monotonic()

    threads = [threading.Thread(target=forecast, args=(i,), daemon=True) for i in range(IN_FLIGHT)]
    try:
        for thread in threads:
            thread.start()
        for _ in range(IN_FLIGHT):
            assert sent.acquire(timeout=60), "the requests were never sent"
        # Signal only once the server has every request and some are still running (sent is not yet read
        # on a busy machine).
        wait_all_arrived_some_running(server.url, IN_FLIGHT)
        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        for thread in threads:
            thread.join(timeout=120)
        code = server.process.wait(timeout=60)
    finally:
        server.stop()
    assert code == 0, server.output()
    assert "Traceback" not in server.output(), server.output()
    assert len(results) == IN_FLIGHT
    for i, response in sorted(results.items()):
        assert isinstance(response, httpx.Response), f"request {i}: {response!r}\n{server.output()}"
        assert response.status_code == 200, response.text
        np.testing.assert_allclose(response.json()["forecast"], reference.forecast(windows[i], HORIZON), rtol=1e-6)
    late = [i for i, t in finished_at.items() if t > signalled]
    assert late, "every request finished before the signal: the test proved nothing"


@pytest.mark.slow
def test_short_soak(tiny_artifacts: Path, tmp_path: Path) -> None:
    """benchmarks/soak.py for 5 s: mixed load at concurrency 64, no error, no wrong answer, clean exit."""
    result = soak(tiny_artifacts, duration=5.0, warmup=1.0, concurrency=64, windows=256, log=tmp_path / "server.log")
    print(result)
    assert result.requests > 0, result
    assert all(result.by_kind.values()), result
    assert result.errors == 0, result.first_errors
    assert result.wrong_answers == 0, result.first_errors
    assert result.exit_status_after_sigterm == 0
    assert result.rss_end_mib > 0
