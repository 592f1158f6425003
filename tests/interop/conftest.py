"""Interop fixtures: a real ``forecast-serve`` process on the tiny artifacts, and in-process apps."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

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
    process: subprocess.Popen[bytes]

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


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_command() -> Path:
    """``forecast-serve`` of the interpreter running the tests (the project's .venv)."""
    path = Path(sys.executable).parent / "forecast-serve"
    if not path.exists():
        pytest.fail(f"{path} is missing: install the project into the environment (pip install -e '.[dev]')")
    return path


def start_server(artifacts: Path, log: Path, **env: str) -> Server:
    port = free_port()
    environment = {
        **os.environ,
        "FORECAST_ARTIFACTS_DIR": str(artifacts),
        "FORECAST_API_KEY": API_KEY,
        "FORECAST_LOG_LEVEL": "info",  # uvicorn then logs its graceful shutdown
        **env,
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(serve_command()), "--host", "127.0.0.1", "--port", str(port)],
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT
    last = "no answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"forecast-serve exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        try:
            r = httpx.get(f"{url}/readyz", timeout=5)
            last = r.text
            if r.status_code == 200:
                window = httpx.get(f"{url}/v1/models/ensemble", timeout=5).json()["window"]
                return Server(url, f"127.0.0.1:{port}", API_KEY, int(window), process)
        except httpx.TransportError as exc:
            last = repr(exc)
        time.sleep(0.1)
    stop_server(process)
    pytest.fail(
        f"forecast-serve never became ready in {START_TIMEOUT:g} s ({last}):\n{log.read_text(errors='replace')}"
    )


def stop_server(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM (uvicorn's graceful shutdown), then SIGKILL if it hangs; returns the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    return process.returncode


@pytest.fixture(scope="module")
def server(tiny_artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One real server process per test module, on the tiny artifacts, with an API key; stopped by SIGTERM."""
    log = tmp_path_factory.mktemp("server") / "forecast-serve.log"
    running = start_server(tiny_artifacts, log)
    yield running
    code = stop_server(running.process)
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
