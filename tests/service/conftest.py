"""Service fixtures: apps built by the factory on the tiny artifacts."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from service.core.config import Settings
from service.main import create_app


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
