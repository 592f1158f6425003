"""Interop fixtures: a real ``forecast-serve`` process on the tiny artifacts, and in-process apps."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from benchmarks.server import ServerError, ServerProcess, free_port, serve_argv
from service.core.config import Settings
from service.main import create_app

API_KEY = "interop-test-key"
START_TIMEOUT = 180.0  # seconds; generous, the test machine is shared with training jobs


@dataclass(frozen=True)
class Server:
    url: str  # http://127.0.0.1:PORT
    host_port: str  # 127.0.0.1:PORT, the form tritonclient wants
    api_key: str
    window: int
    handle: ServerProcess  # the process, its log, and how it stops

    def v1_predict(self, model: str, windows: np.ndarray) -> list[float]:
        """The /v1 answer for the same windows, straight over HTTP (the reference the interop tests compare to)."""
        r = httpx.post(
            f"{self.url}/v1/models/{model}/predict",
            json={"windows": np.asarray(windows).tolist()},
            headers={"X-API-Key": self.api_key},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        return list(r.json()["predictions"])

    def v1_forecast(self, model: str, window: np.ndarray, horizon: int) -> list[float]:
        r = httpx.post(
            f"{self.url}/v1/models/{model}/forecast",
            json={"window": np.asarray(window).tolist(), "horizon": horizon},
            headers={"X-API-Key": self.api_key},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        return list(r.json()["forecast"])


def start_server(artifacts: Path, log: Path, **env: str) -> Server:
    """``forecast-serve`` on a free port with the API key, ready; the test fails with its output otherwise."""
    port = free_port()
    environment = {
        **os.environ,
        "FORECAST_ARTIFACTS_DIR": str(artifacts),
        "FORECAST_API_KEY": API_KEY,
        "FORECAST_LOG_LEVEL": "info",  # uvicorn then logs its graceful shutdown
        **env,
    }
    # No --workers flag: the server takes WEB_CONCURRENCY (or one worker), as a deployment would.
    handle = ServerProcess(serve_argv(port, workers=None), port=port, log=log, env=environment, label="forecast-serve")
    try:
        handle.start().wait_ready(timeout=START_TIMEOUT, poll=0.1)
    except ServerError as exc:
        pytest.fail(str(exc))
    window = httpx.get(f"{handle.url}/v1/models/ensemble", timeout=5).json()["window"]
    return Server(handle.url, f"127.0.0.1:{port}", API_KEY, int(window), handle)


@pytest.fixture(scope="module")
def server(tiny_artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One real server process per test module, on the tiny artifacts, with an API key; stopped by SIGTERM."""
    log = tmp_path_factory.mktemp("server") / "forecast-serve.log"
    running = start_server(tiny_artifacts, log)
    yield running
    code = running.handle.stop(timeout=30)  # SIGTERM (uvicorn's graceful shutdown), SIGKILL if it hangs
    output = log.read_text(errors="replace")
    # uvicorn shuts down gracefully, then re-raises the signal: the exit status is -SIGTERM (or 0).
    assert code in (0, -signal.SIGTERM), f"forecast-serve exited with {code} on SIGTERM:\n{output}"
    assert "Application shutdown complete" in output, output


@pytest.fixture(scope="module")
def windows(server: Server) -> np.ndarray:
    """Five plausible price windows (a random walk near the synthetic series' level), float64."""
    rng = np.random.default_rng(7)
    steps = rng.normal(0.0, 0.01, (5, server.window))
    return np.round(100 * np.exp(np.cumsum(steps, axis=1)), 4)


def wait_ready(client: TestClient, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.get("/readyz").status_code == 200:
            return
        time.sleep(0.02)
    raise AssertionError(f"service never became ready: {client.get('/readyz').json()}")


@pytest.fixture(scope="module")
def app_client(tiny_artifacts: Path) -> Iterator[TestClient]:
    """An in-process app on the tiny artifacts (no API key), ready."""
    with TestClient(create_app(Settings(artifacts_dir=tiny_artifacts)), raise_server_exceptions=False) as client:
        wait_ready(client)
        yield client
