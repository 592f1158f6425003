"""Service fixtures: apps built by the factory on the tiny artifacts."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response

from forecast_core.windowing import origin_windows
from service.core.config import Settings
from service.main import create_app
from tests.conftest import TINY_WINDOW


def wait_ready(client: TestClient, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.get("/readyz").status_code == 200:
            return
        time.sleep(0.02)
    raise AssertionError(f"service never became ready: {client.get('/readyz').json()}")


@pytest.fixture
def make_client(tiny_artifacts: Path) -> Iterator[Callable[..., TestClient]]:
    """Build a fresh app (lifespan running) with settings overrides; waits for readiness unless told not to."""
    opened: list[TestClient] = []

    def factory(*, ready: bool = True, **overrides: object) -> TestClient:
        settings = Settings(**{"artifacts_dir": tiny_artifacts, **overrides})  # type: ignore[arg-type]
        client = TestClient(create_app(settings), raise_server_exceptions=False)
        client.__enter__()
        opened.append(client)
        if ready:
            wait_ready(client)
        return client

    yield factory
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


@pytest.fixture
def app(tiny_artifacts: Path) -> FastAPI:
    return create_app(Settings(artifacts_dir=tiny_artifacts))


@pytest.fixture
def wait_until_ready() -> Callable[..., None]:
    return wait_ready


@contextlib.contextmanager
def running_client(**settings: object) -> Iterator[TestClient]:
    """A started app (lifespan running) on the given settings, ready before it is handed out."""
    app = create_app(Settings(**settings))  # type: ignore[arg-type]
    with TestClient(app, raise_server_exceptions=False) as client:
        wait_ready(client)
        yield client


@pytest.fixture(scope="module")
def served(tiny_artifacts: Path) -> Iterator[TestClient]:
    """One default (onnx) app shared by a module's read-only tests."""
    with running_client(artifacts_dir=tiny_artifacts) as client:
        yield client


@pytest.fixture(scope="module")
def committed_sets() -> Iterator[TestClient]:
    """One default app on the committed model sets (artifacts/), shared by a module's read-only tests."""
    from tests.conftest import ARTIFACTS_ROOT

    with running_client(artifacts_dir=ARTIFACTS_ROOT) as client:
        yield client


@pytest.fixture(scope="module")
def served_keras(tiny_artifacts: Path) -> Iterator[TestClient]:
    """One keras-backend app shared by a module's read-only tests (compiling XLA takes seconds)."""
    with running_client(artifacts_dir=tiny_artifacts, backend="keras") as client:
        yield client


@pytest.fixture(scope="session")
def series(synthetic_csv: Path) -> np.ndarray:
    """The synthetic series' target column (High), the one the tiny models were trained on."""
    import pandas as pd

    return pd.read_csv(synthetic_csv)["High"].to_numpy(dtype=np.float64)


@pytest.fixture(scope="session")
def windows(series: np.ndarray) -> np.ndarray:
    """Every window of the series (training and test periods), shape (n, TINY_WINDOW)."""
    return origin_windows(series, TINY_WINDOW, TINY_WINDOW)


def check_error(response: Response, status: int, code: str | None = None) -> dict[str, Any]:
    """Assert the one error shape and a clean body; return the ``error`` object."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"status", "code", "message", "details"}, error
    assert error["status"] == status
    assert isinstance(error["code"], str)
    assert error["code"]
    if code is not None:
        assert error["code"] == code, error
    assert isinstance(error["message"], str)
    assert error["message"]
    assert isinstance(error["details"], list)
    for detail in error["details"]:
        assert set(detail) == {"field", "rule", "message"}, detail
        assert all(isinstance(v, str) and v for v in detail.values()), detail
    assert_clean(response)
    return error  # type: ignore[no-any-return]


def assert_clean(response: Response) -> None:
    """No stack trace, no internal error and no file system path in a response body."""
    text = response.text
    assert response.status_code != 500, text
    for leak in ("Traceback", 'File "', "/tmp/", "/work/", "site-packages", ".py"):
        assert leak not in text, f"{leak!r} leaked into the body: {text[:500]}"


@pytest.fixture(scope="session")
def expect_error() -> Callable[..., dict[str, Any]]:
    return check_error


@pytest.fixture(scope="session")
def expect_clean() -> Callable[[Response], None]:
    return assert_clean


def scrape(client: TestClient) -> list[tuple[str, dict[str, str], float]]:
    """Every sample on /metrics as (name, labels, value), read with Prometheus' own parser."""
    from prometheus_client.parser import text_string_to_metric_families

    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return [(s.name, dict(s.labels), s.value) for f in text_string_to_metric_families(response.text) for s in f.samples]


@pytest.fixture(scope="session")
def metric_samples() -> Callable[[TestClient], list[tuple[str, dict[str, str], float]]]:
    return scrape
